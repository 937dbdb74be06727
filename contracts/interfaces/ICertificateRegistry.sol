// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccreditationRecords} from "./IAccreditationRecords.sol";
import {IIssuerDirectory} from "./IIssuerDirectory.sol";
import {IRegistryGovernance} from "./IRegistryGovernance.sol";
import {ISigningCertificates} from "./ISigningCertificates.sol";

/// @title Registry of anchored metrology certificates
/// @notice Issuers anchor Merkle roots of document batches (leaves are OpenZeppelin
/// StandardMerkleTree leaves of the documents' SHA-256 digests, encoding
/// `["bytes32"]`) and revoke their own documents by proving inclusion. Anyone with
/// an RPC endpoint checks a receipt with `verify`.
interface ICertificateRegistry is
    ISigningCertificates,
    IRegistryGovernance,
    IIssuerDirectory,
    IAccreditationRecords
{
    /// @notice Why a document was revoked. `OutOfTolerance`, `Error` and
    /// `Compromised` affect measurements made from `effectiveFrom` on.
    enum RevocationReason {
        Unspecified,
        Superseded,
        Withdrawn,
        Error,
        Compromised,
        OutOfTolerance
    }

    /// @notice An anchored batch. The issuer was active when it was anchored.
    struct Batch {
        bytes32 issuerId;
        bytes32 root;
        uint32 count;
        uint64 anchoredAt;
        uint64 blockNumber;
        address operator;
        string manifestCid;
    }

    /// @notice A revocation; `revokedAt == 0` means not revoked.
    struct Revocation {
        RevocationReason reason;
        uint64 revokedAt;
        uint64 effectiveFrom;
        uint64 blockNumber;
        uint256 batchId;
        bytes32 replacement;
    }

    /// @notice What `verify` found for a document, batch and proof.
    struct Verification {
        bool anchored;
        bool revoked;
        bytes32 issuerId;
        IssuerStatus issuerStatusNow;
        uint64 anchoredAt;
        uint64 anchoredBlock;
        RevocationReason revocationReason;
        uint64 revokedAt;
        uint64 effectiveFrom;
        bytes32 replacement;
    }

    /// @notice Emitted when an operator anchored a batch (or a single document, `count == 1`).
    event BatchAnchored(
        uint256 indexed batchId,
        bytes32 indexed issuerId,
        bytes32 indexed root,
        uint32 count,
        string manifestCid,
        address operator
    );
    /// @notice Emitted when an issuer's operator revoked one of the issuer's documents.
    event DocumentRevoked(
        bytes32 indexed issuerId,
        bytes32 indexed documentHash,
        uint256 indexed batchId,
        RevocationReason reason,
        bytes32 replacement,
        uint64 effectiveFrom,
        address operator
    );

    /// @dev Zero root, zero count or an empty manifest.
    error BatchInvalid(bytes32 root, uint32 count);
    /// @dev This root is anchored already, as `batchId` (anchoring is idempotent by root).
    error BatchRootAlreadyAnchored(bytes32 root, uint256 batchId);
    /// @dev No batch with this id.
    error BatchUnknown(uint256 batchId);
    /// @dev The batch belongs to another issuer than the caller's.
    error RevocationNotBatchIssuer(uint256 batchId, bytes32 issuerId);
    /// @dev The proof does not show the document in the batch.
    error RevocationInvalidProof(bytes32 documentHash, uint256 batchId);
    /// @dev The document is revoked already; revocation is irreversible.
    error RevocationAlreadyRevoked(bytes32 issuerId, bytes32 documentHash);
    /// @dev Effective date in the future, or a document that replaces itself.
    error RevocationInvalidArguments(bytes32 documentHash);

    /// @notice Anchor the Merkle root of a batch of documents for the caller's issuer.
    /// @param root StandardMerkleTree root over the documents' SHA-256 digests.
    /// @param count Number of documents in the batch.
    /// @param manifestCid IPFS CID of the batch manifest (documents, CIDs, metadata).
    /// @return batchId The new batch's id.
    function anchorBatch(bytes32 root, uint32 count, string calldata manifestCid)
        external
        returns (uint256 batchId);

    /// @notice Anchor a single document: a batch of one whose root is the document's leaf.
    /// @param documentHash SHA-256 of the document's exact bytes.
    /// @param manifestCid IPFS CID of the one-document manifest.
    /// @return batchId The new batch's id.
    function anchorDocument(bytes32 documentHash, string calldata manifestCid) external returns (uint256 batchId);

    /// @notice Revoke one of the caller's issuer's documents, proving it is in one of its batches.
    /// @param documentHash SHA-256 of the document.
    /// @param batchId A batch of the caller's issuer that contains the document.
    /// @param proof Inclusion proof of the document's leaf in that batch.
    /// @param reason Why it is revoked.
    /// @param replacement Hash of the document that supersedes it, or zero.
    /// @param effectiveFrom Unix time from which measurements are affected; 0 means now.
    function revoke(
        bytes32 documentHash,
        uint256 batchId,
        bytes32[] calldata proof,
        RevocationReason reason,
        bytes32 replacement,
        uint64 effectiveFrom
    ) external;

    /// @notice A batch by id.
    function getBatch(uint256 batchId) external view returns (Batch memory);

    /// @notice The batch that anchored `root`, or 0.
    function batchIdOfRoot(bytes32 root) external view returns (uint256);

    /// @notice Number of batches ever anchored; ids run from 1 to this.
    function batchCount() external view returns (uint256);

    /// @notice The revocation of `documentHash` by `issuerId` (`revokedAt == 0` if none).
    function getRevocation(bytes32 issuerId, bytes32 documentHash) external view returns (Revocation memory);

    /// @notice Check a receipt: is `documentHash` in batch `batchId` by `proof`, and revoked?
    /// @return result `anchored` is false when the batch is unknown or the proof fails.
    function verify(bytes32 documentHash, uint256 batchId, bytes32[] calldata proof)
        external
        view
        returns (Verification memory result);

    /// @notice The StandardMerkleTree leaf of a document digest.
    function leafOf(bytes32 documentHash) external pure returns (bytes32);
}
