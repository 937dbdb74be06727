// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Accreditations of issuers, recorded by governance
/// @notice Governance records, per issuer, the accreditation document (body, number,
/// validity and scope entries, stored on IPFS) by its SHA-256 and CID, with the date
/// from which it applies. Every record is a new version; earlier versions stay
/// readable, so a verifier can ask which scope applied on a calibration date.
interface IAccreditationRecords {
    /// @notice One version of an issuer's accreditation. A zero `documentHash` records
    /// that the issuer holds no accreditation from `effectiveFrom` on.
    struct Accreditation {
        bytes32 documentHash;
        uint64 effectiveFrom;
        uint64 recordedAt;
        uint64 recordedBlock;
        string documentCid;
    }

    /// @notice Emitted when governance recorded a new accreditation version for an issuer.
    event AccreditationRecorded(
        bytes32 indexed issuerId, uint256 indexed version, bytes32 documentHash, string documentCid, uint64 effectiveFrom
    );

    /// @dev A document hash without a CID (or a CID without a hash), or an effective date of zero.
    error AccreditationInvalid(bytes32 issuerId, bytes32 documentHash);
    /// @dev No accreditation version `version` for this issuer.
    error AccreditationUnknownVersion(bytes32 issuerId, uint256 version);

    /// @notice Number of accreditation versions recorded for `issuerId`; versions run from 1.
    function accreditationCount(bytes32 issuerId) external view returns (uint256);

    /// @notice One accreditation version of `issuerId`.
    function getAccreditation(bytes32 issuerId, uint256 version) external view returns (Accreditation memory);
}
