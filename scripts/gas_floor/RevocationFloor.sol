// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title The least a revocation can cost (benchmark only, never deployed by certreg)
/// @notice Measures the gas floor of revoking one document of a Merkle-anchored batch, so
/// scripts/bench_eas.py can set CertificateRegistry's revocation against what any contract
/// keeping the same guarantees must spend. It keeps, and only keeps: the pause switch, the
/// operator's issuer, the issuer not retired, the batch being that issuer's, the inclusion
/// proof, one irreversible packed record per document, and one event for indexers. It has
/// no governance, no replacement, no effective date and no custom errors: each of those only
/// adds gas. `revokeUnguarded` drops the pause, operator and retirement checks too, the floor
/// of a revocation with a proof and a record and nothing else.
contract RevocationFloor {
    bool private _paused;
    mapping(address operator => uint32 issuerIndex) private _issuerOfOperator;
    mapping(uint32 issuerIndex => bool) private _live;
    // Batch id (bits 0-63) and issuer index (64-95), keyed by root, as in CertificateRegistry.
    mapping(bytes32 root => uint256 record) private _batchOfRoot;
    mapping(uint32 issuerIndex => mapping(bytes32 documentHash => uint256 record)) private _revocations;

    event Revoked(bytes32 indexed documentHash, uint256 indexed batchId, uint256 record);
    event RevokedMany(uint256 indexed batchId, bytes32[] documentHashes, uint256 record);

    /// @notice Registers `operator` for issuer `issuerIndex` and a batch with `root`.
    function setUp(address operator, uint32 issuerIndex, bytes32 root, uint64 batchId) external {
        _issuerOfOperator[operator] = issuerIndex;
        _live[issuerIndex] = true;
        _batchOfRoot[root] = uint256(batchId) | (uint256(issuerIndex) << 64);
    }

    /// @notice Revokes `documentHash` of the batch with `root`, proven by `proof`.
    function revoke(bytes32 documentHash, bytes32 root, bytes32[] calldata proof, uint8 reason) external {
        (uint32 issuer, uint256 batchId) = _guardedBatch(root);
        require(MerkleProof.verifyCalldata(proof, root, _leaf(documentHash)));
        uint256 record = _recordOf(reason, batchId);
        _write(issuer, documentHash, record);
        emit Revoked(documentHash, batchId, record);
    }

    /// @notice As `revoke`, without the pause, operator and retirement checks.
    function revokeUnguarded(bytes32 documentHash, bytes32 root, bytes32[] calldata proof, uint8 reason) external {
        uint256 batch = _batchOfRoot[root];
        require(uint64(batch) != 0);
        require(MerkleProof.verifyCalldata(proof, root, _leaf(documentHash)));
        uint256 record = _recordOf(reason, uint64(batch));
        _write(uint32(batch >> 64), documentHash, record);
        emit Revoked(documentHash, uint64(batch), record);
    }

    /// @notice Revokes every one of `documentHashes` of the batch with `root` by one multiproof.
    function revokeMany(
        bytes32 root,
        bytes32[] calldata documentHashes,
        bytes32[] calldata proof,
        bool[] calldata proofFlags,
        uint8 reason
    ) external {
        (uint32 issuer, uint256 batchId) = _guardedBatch(root);
        bytes32[] memory leaves = new bytes32[](documentHashes.length);
        for (uint256 i = 0; i < documentHashes.length; ++i) {
            leaves[i] = _leaf(documentHashes[i]);
        }
        require(MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves));
        uint256 record = _recordOf(reason, batchId);
        for (uint256 i = 0; i < documentHashes.length; ++i) {
            _write(issuer, documentHashes[i], record);
        }
        emit RevokedMany(batchId, documentHashes, record);
    }

    function _guardedBatch(bytes32 root) private view returns (uint32 issuer, uint256 batchId) {
        require(!_paused);
        issuer = _issuerOfOperator[msg.sender];
        require(_live[issuer]);
        uint256 batch = _batchOfRoot[root];
        batchId = uint64(batch);
        require(batchId != 0 && uint32(batch >> 64) == issuer);
    }

    function _recordOf(uint8 reason, uint256 batchId) private view returns (uint256) {
        return uint256(reason) | (block.timestamp << 16) | (block.number << 96) | (batchId << 160);
    }

    function _write(uint32 issuer, bytes32 documentHash, uint256 record) private {
        mapping(bytes32 => uint256) storage revocations = _revocations[issuer];
        require(revocations[documentHash] == 0);
        revocations[documentHash] = record;
    }

    function _leaf(bytes32 documentHash) private pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(documentHash))));
    }
}
