// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {AccreditationRecords} from "./AccreditationRecords.sol";
import {ICertificateRegistry} from "./interfaces/ICertificateRegistry.sol";
import {IssuerDirectory} from "./IssuerDirectory.sol";
import {RegistryGovernance} from "./RegistryGovernance.sol";
import {SigningCertificates} from "./SigningCertificates.sol";

/// @title Permissioned registry of metrology certificates (contract version 2)
/// @notice Governors (member institutes) register issuers by M-of-N approval; issuers'
/// operators anchor Merkle roots of certificate batches and revoke their own
/// certificates by proving inclusion. The registry never stores documents, only
/// roots, so the cost of a batch does not grow with its size.
/// @dev Storage is laid out for gas: a batch is two new slots (its packed record keyed
/// by root, and the root keyed by batch id); the manifest CID and the operator live only
/// in the `BatchAnchored` event. A revocation is one packed slot, plus one for the
/// replacement only when there is one. Records are packed by hand into one word each
/// (layouts below) so that each is one SLOAD and one SSTORE.
contract CertificateRegistry is
    ICertificateRegistry,
    RegistryGovernance,
    IssuerDirectory,
    AccreditationRecords,
    SigningCertificates,
    Pausable
{
    /// @notice The version of this contract's interface (version 1 had no such function).
    uint256 public constant REGISTRY_VERSION = 2;

    /// @dev Multicodecs a manifest CID may have: CIDv1, SHA-256, raw block or dag-pb (UnixFS).
    uint32 private constant _CODEC_RAW = 0x55;
    uint32 private constant _CODEC_DAG_PB = 0x70;

    // A batch record, keyed by its root: batch id (bits 0-63), issuer index (64-95),
    // count (96-127), anchoredAt (128-191), block number (192-255).
    uint256 private constant _BATCH_ISSUER_SHIFT = 64;
    uint256 private constant _BATCH_COUNT_SHIFT = 96;
    uint256 private constant _BATCH_TIME_SHIFT = 128;
    uint256 private constant _BATCH_BLOCK_SHIFT = 192;
    // A revocation record: reason (bits 0-7), has-replacement flag (8), revokedAt (16-55),
    // effectiveFrom (56-95), block number (96-159), batch id (160-223); zero: not revoked.
    uint256 private constant _REVOCATION_REPLACED_BIT = 1 << 8;
    uint256 private constant _REVOCATION_TIME_SHIFT = 16;
    uint256 private constant _REVOCATION_EFFECTIVE_SHIFT = 56;
    uint256 private constant _REVOCATION_BLOCK_SHIFT = 96;
    uint256 private constant _REVOCATION_BATCH_SHIFT = 160;

    uint64 private _batchCount;
    uint32 private _issuerCount;
    mapping(bytes32 root => uint256 record) private _batchOfRoot;
    mapping(uint256 batchId => bytes32 root) private _rootOfBatch;
    // Cleared when the issuer retires: a retired issuer can no longer revoke.
    mapping(bytes32 issuerId => uint32 issuerIndex) private _liveIssuerIndex;
    mapping(uint32 issuerIndex => bytes32 issuerId) private _issuerAt;
    mapping(bytes32 issuerId => mapping(bytes32 documentHash => uint256 record)) private _revocations;
    mapping(bytes32 issuerId => mapping(bytes32 documentHash => bytes32 replacement)) private _replacements;

    /// @param initialGovernors The member institutes' governance accounts.
    /// @param initialThreshold Approvals an administrative action needs (1..governors).
    constructor(address[] memory initialGovernors, uint256 initialThreshold)
        RegistryGovernance(initialGovernors, initialThreshold)
    {}

    /// @inheritdoc ICertificateRegistry
    function anchorBatch(bytes32 root, uint32 count, bytes32 manifestDigest, uint32 manifestCodec)
        external
        whenNotPaused
        returns (uint256 batchId)
    {
        return _anchor(root, count, manifestDigest, manifestCodec);
    }

    /// @inheritdoc ICertificateRegistry
    function anchorDocument(bytes32 documentHash, bytes32 manifestDigest, uint32 manifestCodec)
        external
        whenNotPaused
        returns (uint256 batchId)
    {
        return _anchor(_leaf(documentHash), 1, manifestDigest, manifestCodec);
    }

    /// @inheritdoc ICertificateRegistry
    function revoke(
        bytes32 documentHash,
        bytes32 root,
        bytes32[] calldata proof,
        RevocationReason reason,
        bytes32 replacement,
        uint64 effectiveFrom
    ) external whenNotPaused {
        (bytes32 issuerId, uint256 batchId) = _revocableBatch(root);
        if (!MerkleProof.verifyCalldata(proof, root, _leaf(documentHash))) {
            revert RevocationInvalidProof(documentHash, batchId);
        }
        if (replacement == documentHash) revert RevocationInvalidArguments(documentHash);
        uint64 effective = _effectiveFrom(effectiveFrom, documentHash);
        uint256 flags = uint256(reason) | (replacement == bytes32(0) ? 0 : _REVOCATION_REPLACED_BIT);
        _record(issuerId, documentHash, _revocationRecord(flags, effective, batchId));
        if (replacement != bytes32(0)) _replacements[issuerId][documentHash] = replacement;
        emit DocumentRevoked(issuerId, documentHash, batchId, reason, replacement, effective, msg.sender);
    }

    /// @inheritdoc ICertificateRegistry
    function revokeMany(
        bytes32 root,
        bytes32[] calldata documentHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags,
        RevocationReason reason,
        uint64 effectiveFrom
    ) external whenNotPaused {
        (bytes32 issuerId, uint256 batchId) = _revocableBatch(root);
        _requireMultiproof(batchId, root, documentHashes, proof, proofFlags);
        uint64 effective = _effectiveFrom(effectiveFrom, documentHashes[0]);
        uint256 record = _revocationRecord(uint256(reason), effective, batchId);
        for (uint256 i = 0; i < documentHashes.length; ++i) {
            // A hash listed twice meets its own first revocation and reverts the whole call.
            _record(issuerId, documentHashes[i], record);
        }
        emit DocumentsRevoked(issuerId, batchId, documentHashes, reason, effective, msg.sender);
    }

    /// @inheritdoc ICertificateRegistry
    function getBatch(uint256 batchId) external view returns (Batch memory batch) {
        bytes32 root = _rootOfBatch[batchId];
        if (root == bytes32(0)) return batch;
        uint256 record = _batchOfRoot[root];
        batch = Batch({
            issuerId: _issuerAt[uint32(record >> _BATCH_ISSUER_SHIFT)],
            root: root,
            count: uint32(record >> _BATCH_COUNT_SHIFT),
            anchoredAt: uint64(record >> _BATCH_TIME_SHIFT),
            blockNumber: uint64(record >> _BATCH_BLOCK_SHIFT)
        });
    }

    /// @inheritdoc ICertificateRegistry
    function batchIdOfRoot(bytes32 root) external view returns (uint256) {
        return uint64(_batchOfRoot[root]);
    }

    /// @inheritdoc ICertificateRegistry
    function batchCount() external view returns (uint256) {
        return _batchCount;
    }

    /// @inheritdoc ICertificateRegistry
    function getRevocation(bytes32 issuerId, bytes32 documentHash) external view returns (Revocation memory) {
        return _revocation(issuerId, documentHash);
    }

    /// @inheritdoc ICertificateRegistry
    function verify(bytes32 documentHash, uint256 batchId, bytes32[] calldata proof)
        external
        view
        returns (Verification memory result)
    {
        bytes32 root = _rootOfBatch[batchId];
        if (root == bytes32(0) || !MerkleProof.verifyCalldata(proof, root, _leaf(documentHash))) {
            return result;
        }
        uint256 record = _batchOfRoot[root];
        bytes32 issuerId = _issuerAt[uint32(record >> _BATCH_ISSUER_SHIFT)];
        Revocation memory revocation = _revocation(issuerId, documentHash);
        result.anchored = true;
        result.issuerId = issuerId;
        result.issuerStatusNow = _issuerStatus(issuerId);
        result.anchoredAt = uint64(record >> _BATCH_TIME_SHIFT);
        result.anchoredBlock = uint64(record >> _BATCH_BLOCK_SHIFT);
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
            // A compact index lets a batch record name its issuer in 4 bytes instead of 32.
            uint32 index = ++_issuerCount;
            _liveIssuerIndex[issuerId] = index;
            _issuerAt[index] = issuerId;
        } else if (kind == ActionKind.SetIssuerStatus) {
            (bytes32 issuerId, uint8 status) = abi.decode(params, (bytes32, uint8));
            if (status > uint8(type(IssuerStatus).max)) revert GovernanceInvalidAction(kind);
            _setIssuerStatus(issuerId, IssuerStatus(status));
            // Retirement is final: dropping the live index is what stops its revocations.
            if (IssuerStatus(status) == IssuerStatus.Retired) delete _liveIssuerIndex[issuerId];
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

    function _anchor(bytes32 root, uint32 count, bytes32 manifestDigest, uint32 manifestCodec)
        private
        returns (uint256 batchId)
    {
        (bytes32 issuerId, IssuerStatus status) = _senderIssuer();
        if (status != IssuerStatus.Active) revert IssuerNotActive(issuerId, status);
        if (
            root == bytes32(0) || count == 0 || manifestDigest == bytes32(0)
                || (manifestCodec != _CODEC_RAW && manifestCodec != _CODEC_DAG_PB)
        ) revert BatchInvalid(root, count);
        uint256 existing = uint64(_batchOfRoot[root]);
        if (existing != 0) revert BatchRootAlreadyAnchored(root, existing);
        uint64 id = ++_batchCount;
        _rootOfBatch[id] = root;
        _batchOfRoot[root] = uint256(id) | (uint256(_liveIssuerIndex[issuerId]) << _BATCH_ISSUER_SHIFT)
            | (uint256(count) << _BATCH_COUNT_SHIFT) | (block.timestamp << _BATCH_TIME_SHIFT)
            | (block.number << _BATCH_BLOCK_SHIFT);
        emit BatchAnchored(id, issuerId, root, count, manifestDigest, manifestCodec, msg.sender);
        return id;
    }

    /// @dev The caller's issuer and the id of the batch with `root`, which must be that issuer's.
    function _revocableBatch(bytes32 root) private view returns (bytes32 issuerId, uint256 batchId) {
        issuerId = _senderIssuerId();
        // A suspended issuer may still withdraw what it issued; a retired one has no live index.
        uint32 index = _liveIssuerIndex[issuerId];
        if (index == 0) revert IssuerNotActive(issuerId, IssuerStatus.Retired);
        uint256 record = _batchOfRoot[root];
        batchId = uint64(record);
        if (batchId == 0) revert BatchRootUnknown(root);
        if (uint32(record >> _BATCH_ISSUER_SHIFT) != index) revert RevocationNotBatchIssuer(batchId, issuerId);
    }

    function _requireMultiproof(
        uint256 batchId,
        bytes32 root,
        bytes32[] calldata documentHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags
    ) private pure {
        uint256 n = documentHashes.length;
        // Checked here so a malformed multiproof fails with our error, not the library's.
        if (n == 0 || n + proof.length != proofFlags.length + 1) {
            revert RevocationInvalidMultiproof(batchId, n);
        }
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = _leaf(documentHashes[i]);
        }
        if (!MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves)) {
            revert RevocationInvalidMultiproof(batchId, n);
        }
    }

    function _effectiveFrom(uint64 effectiveFrom, bytes32 documentHash) private view returns (uint64) {
        if (effectiveFrom > block.timestamp) revert RevocationInvalidArguments(documentHash);
        return effectiveFrom == 0 ? uint64(block.timestamp) : effectiveFrom;
    }

    function _revocationRecord(uint256 flags, uint64 effectiveFrom, uint256 batchId) private view returns (uint256) {
        return flags | (block.timestamp << _REVOCATION_TIME_SHIFT) | (uint256(effectiveFrom) << _REVOCATION_EFFECTIVE_SHIFT)
            | (block.number << _REVOCATION_BLOCK_SHIFT) | (batchId << _REVOCATION_BATCH_SHIFT);
    }

    function _record(bytes32 issuerId, bytes32 documentHash, uint256 record) private {
        mapping(bytes32 => uint256) storage revocations = _revocations[issuerId];
        if (revocations[documentHash] != 0) revert RevocationAlreadyRevoked(issuerId, documentHash);
        revocations[documentHash] = record;
    }

    function _revocation(bytes32 issuerId, bytes32 documentHash) private view returns (Revocation memory revocation) {
        uint256 record = _revocations[issuerId][documentHash];
        if (record == 0) return revocation;
        revocation = Revocation({
            reason: RevocationReason(uint8(record)),
            revokedAt: uint40(record >> _REVOCATION_TIME_SHIFT),
            effectiveFrom: uint40(record >> _REVOCATION_EFFECTIVE_SHIFT),
            blockNumber: uint64(record >> _REVOCATION_BLOCK_SHIFT),
            batchId: uint64(record >> _REVOCATION_BATCH_SHIFT),
            replacement: record & _REVOCATION_REPLACED_BIT == 0 ? bytes32(0) : _replacements[issuerId][documentHash]
        });
    }

    /// @dev StandardMerkleTree leaf for `["bytes32"]`: the double hash prevents second preimages.
    function _leaf(bytes32 documentHash) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(documentHash))));
    }
}
