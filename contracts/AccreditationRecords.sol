// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IAccreditationRecords} from "./interfaces/IAccreditationRecords.sol";

/// @title Versioned accreditation records per issuer
/// @notice Only the governance action `SetAccreditation` writes here (see
/// CertificateRegistry). Versions are appended, never overwritten, and each is
/// read by number, so no call loops over the history.
abstract contract AccreditationRecords is IAccreditationRecords {
    mapping(bytes32 issuerId => uint256 count) private _accreditationCount;
    mapping(bytes32 issuerId => mapping(uint256 version => Accreditation)) private _accreditations;

    /// @inheritdoc IAccreditationRecords
    function accreditationCount(bytes32 issuerId) external view returns (uint256) {
        return _accreditationCount[issuerId];
    }

    /// @inheritdoc IAccreditationRecords
    function getAccreditation(bytes32 issuerId, uint256 version) external view returns (Accreditation memory) {
        if (version == 0 || version > _accreditationCount[issuerId]) {
            revert AccreditationUnknownVersion(issuerId, version);
        }
        return _accreditations[issuerId][version];
    }

    function _recordAccreditation(bytes32 issuerId, bytes32 documentHash, string memory documentCid, uint64 effectiveFrom)
        internal
    {
        // A withdrawal (zero hash) carries no document; a record carries both.
        if (effectiveFrom == 0 || (documentHash == bytes32(0)) != (bytes(documentCid).length == 0)) {
            revert AccreditationInvalid(issuerId, documentHash);
        }
        uint256 version = ++_accreditationCount[issuerId];
        _accreditations[issuerId][version] = Accreditation({
            documentHash: documentHash,
            effectiveFrom: effectiveFrom,
            recordedAt: uint64(block.timestamp),
            recordedBlock: uint64(block.number),
            documentCid: documentCid
        });
        emit AccreditationRecorded(issuerId, version, documentHash, documentCid, effectiveFrom);
    }
}
