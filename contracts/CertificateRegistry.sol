// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {AccreditationRecords} from "./AccreditationRecords.sol";
import {ICertificateRegistry} from "./interfaces/ICertificateRegistry.sol";
import {IssuerDirectory} from "./IssuerDirectory.sol";
import {RegistryGovernance} from "./RegistryGovernance.sol";
import {SigningCertificates} from "./SigningCertificates.sol";

/// @title Permissioned registry of metrology certificates
/// @notice Governors (member institutes) register issuers by M-of-N approval; issuers'
/// operators anchor Merkle roots of certificate batches and revoke their own
/// certificates by proving inclusion. The registry never stores documents, only
/// roots, so the cost of a batch does not grow with its size.
contract CertificateRegistry is
    ICertificateRegistry,
    RegistryGovernance,
    IssuerDirectory,
    AccreditationRecords,
    SigningCertificates,
    Pausable
{
    uint256 private _batchCount;
    mapping(uint256 batchId => Batch) private _batches;
    mapping(bytes32 root => uint256 batchId) private _batchIdOfRoot;
    mapping(bytes32 issuerId => mapping(bytes32 documentHash => Revocation)) private _revocations;

    /// @param initialGovernors The member institutes' governance accounts.
    /// @param initialThreshold Approvals an administrative action needs (1..governors).
    constructor(address[] memory initialGovernors, uint256 initialThreshold)
        RegistryGovernance(initialGovernors, initialThreshold)
    {}

    /// @inheritdoc ICertificateRegistry
    function anchorBatch(bytes32 root, uint32 count, string calldata manifestCid)
        external
        whenNotPaused
        returns (uint256 batchId)
    {
        return _anchor(root, count, manifestCid);
    }

    /// @inheritdoc ICertificateRegistry
    function anchorDocument(bytes32 documentHash, string calldata manifestCid)
        external
        whenNotPaused
        returns (uint256 batchId)
    {
        return _anchor(_leaf(documentHash), 1, manifestCid);
    }

    /// @inheritdoc ICertificateRegistry
    function revoke(
        bytes32 documentHash,
        uint256 batchId,
        bytes32[] calldata proof,
        RevocationReason reason,
        bytes32 replacement,
        uint64 effectiveFrom
    ) external whenNotPaused {
        (bytes32 issuerId, IssuerStatus status) = _senderIssuer();
        // A suspended issuer may still withdraw what it issued; a retired one has no operators.
        if (status == IssuerStatus.Retired) revert IssuerNotActive(issuerId, status);
        Batch storage batch = _existingBatch(batchId);
        if (batch.issuerId != issuerId) revert RevocationNotBatchIssuer(batchId, issuerId);
        if (!MerkleProof.verifyCalldata(proof, batch.root, _leaf(documentHash))) {
            revert RevocationInvalidProof(documentHash, batchId);
        }
        Revocation storage revocation = _revocations[issuerId][documentHash];
        if (revocation.revokedAt != 0) revert RevocationAlreadyRevoked(issuerId, documentHash);
        if (effectiveFrom > block.timestamp || replacement == documentHash) {
            revert RevocationInvalidArguments(documentHash);
        }
        uint64 effective = effectiveFrom == 0 ? uint64(block.timestamp) : effectiveFrom;
        _revocations[issuerId][documentHash] = Revocation({
            reason: reason,
            revokedAt: uint64(block.timestamp),
            effectiveFrom: effective,
            blockNumber: uint64(block.number),
            batchId: batchId,
            replacement: replacement
        });
        emit DocumentRevoked(issuerId, documentHash, batchId, reason, replacement, effective, msg.sender);
    }

    /// @inheritdoc ICertificateRegistry
    function getBatch(uint256 batchId) external view returns (Batch memory) {
        return _batches[batchId];
    }

    /// @inheritdoc ICertificateRegistry
    function batchIdOfRoot(bytes32 root) external view returns (uint256) {
        return _batchIdOfRoot[root];
    }

    /// @inheritdoc ICertificateRegistry
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc ICertificateRegistry
    function getRevocation(bytes32 issuerId, bytes32 documentHash) external view returns (Revocation memory) {
        return _revocations[issuerId][documentHash];
    }

    /// @inheritdoc ICertificateRegistry
    function verify(bytes32 documentHash, uint256 batchId, bytes32[] calldata proof)
        external
        view
        returns (Verification memory result)
    {
        Batch storage batch = _batches[batchId];
        if (batch.root == bytes32(0) || !MerkleProof.verifyCalldata(proof, batch.root, _leaf(documentHash))) {
            return result;
        }
        Revocation storage revocation = _revocations[batch.issuerId][documentHash];
        result.anchored = true;
        result.issuerId = batch.issuerId;
        result.issuerStatusNow = _issuerStatus(batch.issuerId);
        result.anchoredAt = batch.anchoredAt;
        result.anchoredBlock = batch.blockNumber;
        if (revocation.revokedAt != 0) {
            result.revoked = true;
            result.revocationReason = revocation.reason;
            result.revokedAt = revocation.revokedAt;
            result.effectiveFrom = revocation.effectiveFrom;
            result.replacement = revocation.replacement;
        }
    }

    /// @inheritdoc ICertificateRegistry
    function leafOf(bytes32 documentHash) external pure returns (bytes32) {
        return _leaf(documentHash);
    }

    function _executeRegistryAction(ActionKind kind, bytes memory params) internal override {
        if (kind == ActionKind.RegisterIssuer) {
            (bytes32 issuerId, bytes2 country, uint8 issuerKind, address admin, string memory cid) =
                abi.decode(params, (bytes32, bytes2, uint8, address, string));
            if (issuerKind > uint8(type(IssuerKind).max)) revert GovernanceInvalidAction(kind);
            _registerIssuer(issuerId, country, IssuerKind(issuerKind), admin, cid);
        } else if (kind == ActionKind.SetIssuerStatus) {
            (bytes32 issuerId, uint8 status) = abi.decode(params, (bytes32, uint8));
            if (status > uint8(type(IssuerStatus).max)) revert GovernanceInvalidAction(kind);
            _setIssuerStatus(issuerId, IssuerStatus(status));
        } else if (kind == ActionKind.SetIssuerAdmin) {
            (bytes32 issuerId, address admin) = abi.decode(params, (bytes32, address));
            _setIssuerAdmin(issuerId, admin);
        } else if (kind == ActionKind.SetIssuerMetadata) {
            (bytes32 issuerId, string memory cid) = abi.decode(params, (bytes32, string));
            _setIssuerMetadata(issuerId, cid);
        } else if (kind == ActionKind.SetAccreditation) {
            (bytes32 issuerId, bytes32 documentHash, string memory cid, uint64 effectiveFrom) =
                abi.decode(params, (bytes32, bytes32, string, uint64));
            _requireIssuer(issuerId);
            _recordAccreditation(issuerId, documentHash, cid, effectiveFrom);
        } else if (kind == ActionKind.DeclareSigningCertificate) {
            (bytes32 issuerId, bytes memory certificate, uint8 certificateKind, uint64 validFrom, uint64 validUntil) =
                abi.decode(params, (bytes32, bytes, uint8, uint64, uint64));
            if (certificateKind > uint8(type(SigningCertificateKind).max)) revert GovernanceInvalidAction(kind);
            _declareSigningCertificate(
                issuerId, certificate, SigningCertificateKind(certificateKind), validFrom, validUntil
            );
        } else if (kind == ActionKind.WithdrawSigningCertificate) {
            (bytes32 issuerId, bytes32 certificateHash) = abi.decode(params, (bytes32, bytes32));
            _withdrawSigningCertificate(issuerId, certificateHash);
        } else if (kind == ActionKind.Pause) {
            _pause();
        } else if (kind == ActionKind.Unpause) {
            _unpause();
        } else {
            revert GovernanceInvalidAction(kind);
        }
    }

    function _anchor(bytes32 root, uint32 count, string calldata manifestCid) private returns (uint256 batchId) {
        (bytes32 issuerId, IssuerStatus status) = _senderIssuer();
        if (status != IssuerStatus.Active) revert IssuerNotActive(issuerId, status);
        if (root == bytes32(0) || count == 0 || bytes(manifestCid).length == 0) revert BatchInvalid(root, count);
        uint256 existing = _batchIdOfRoot[root];
        if (existing != 0) revert BatchRootAlreadyAnchored(root, existing);
        batchId = ++_batchCount;
        _batchIdOfRoot[root] = batchId;
        _batches[batchId] = Batch({
            issuerId: issuerId,
            root: root,
            count: count,
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number),
            operator: msg.sender,
            manifestCid: manifestCid
        });
        emit BatchAnchored(batchId, issuerId, root, count, manifestCid, msg.sender);
    }

    function _existingBatch(uint256 batchId) private view returns (Batch storage batch) {
        batch = _batches[batchId];
        if (batch.root == bytes32(0)) revert BatchUnknown(batchId);
    }

    /// @dev StandardMerkleTree leaf for `["bytes32"]`: the double hash prevents second preimages.
    function _leaf(bytes32 documentHash) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(documentHash))));
    }
}
