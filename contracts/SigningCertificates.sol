// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISigningCertificates} from "./interfaces/ISigningCertificates.sol";
import {IssuerDirectory} from "./IssuerDirectory.sol";

/// @title Signing certificates declared per issuer
/// @notice The issuer's admin declares and withdraws directly; governance does the same
/// through its actions (see CertificateRegistry), for an issuer whose admin key is lost.
/// Each declaration is one slot; the list of declared hashes is read by position, so no
/// call loops over an issuer's history.
abstract contract SigningCertificates is ISigningCertificates, IssuerDirectory {
    mapping(bytes32 issuerId => mapping(bytes32 certificateHash => SigningCertificate)) private
        _signingCertificates;
    mapping(bytes32 issuerId => uint256 count) private _signingCertificateCount;
    mapping(bytes32 issuerId => mapping(uint256 position => bytes32 certificateHash)) private
        _signingCertificateAt;

    /// @inheritdoc ISigningCertificates
    function declareSigningCertificate(
        bytes32 issuerId,
        bytes calldata certificate,
        SigningCertificateKind kind,
        uint64 validFrom,
        uint64 validUntil
    ) external returns (bytes32 certificateHash) {
        _requireSigningCertificateAdmin(issuerId);
        return _declareSigningCertificate(issuerId, certificate, kind, validFrom, validUntil);
    }

    /// @inheritdoc ISigningCertificates
    function withdrawSigningCertificate(bytes32 issuerId, bytes32 certificateHash) external {
        _requireSigningCertificateAdmin(issuerId);
        _withdrawSigningCertificate(issuerId, certificateHash);
    }

    /// @inheritdoc ISigningCertificates
    function getSigningCertificate(bytes32 issuerId, bytes32 certificateHash)
        external
        view
        returns (SigningCertificate memory)
    {
        return _signingCertificates[issuerId][certificateHash];
    }

    /// @inheritdoc ISigningCertificates
    function signingCertificateCount(bytes32 issuerId) external view returns (uint256) {
        return _signingCertificateCount[issuerId];
    }

    /// @inheritdoc ISigningCertificates
    function signingCertificateAt(bytes32 issuerId, uint256 position) external view returns (bytes32) {
        if (position == 0 || position > _signingCertificateCount[issuerId]) {
            revert SigningCertificateUnknown(issuerId, bytes32(position));
        }
        return _signingCertificateAt[issuerId][position];
    }

    /// @dev Declares for `issuerId` without checking who asks: the admin's entry point and
    /// governance's action check that. Re-declaring replaces the period, keeping the position.
    function _declareSigningCertificate(
        bytes32 issuerId,
        bytes memory certificate,
        SigningCertificateKind kind,
        uint64 validFrom,
        uint64 validUntil
    ) internal returns (bytes32 certificateHash) {
        _requireIssuerNotRetired(issuerId);
        certificateHash = sha256(certificate);
        if (certificate.length == 0 || kind == SigningCertificateKind.None || validUntil < validFrom) {
            revert SigningCertificateInvalid(issuerId, certificateHash);
        }
        SigningCertificate storage declaration = _signingCertificates[issuerId][certificateHash];
        if (declaration.withdrawnAt != 0) {
            revert SigningCertificateWithdrawnAlready(issuerId, certificateHash);
        }
        if (declaration.kind == SigningCertificateKind.None) {
            uint256 position = ++_signingCertificateCount[issuerId];
            _signingCertificateAt[issuerId][position] = certificateHash;
        }
        _signingCertificates[issuerId][certificateHash] =
            SigningCertificate({kind: kind, validFrom: validFrom, validUntil: validUntil, withdrawnAt: 0});
        emit SigningCertificateDeclared(
            issuerId, certificateHash, kind, validFrom, validUntil, certificate, msg.sender
        );
    }

    /// @dev Withdraws for `issuerId` without checking who asks (see `_declareSigningCertificate`).
    function _withdrawSigningCertificate(bytes32 issuerId, bytes32 certificateHash) internal {
        _requireIssuerNotRetired(issuerId);
        SigningCertificate storage declaration = _signingCertificates[issuerId][certificateHash];
        if (declaration.kind == SigningCertificateKind.None) {
            revert SigningCertificateUnknown(issuerId, certificateHash);
        }
        if (declaration.withdrawnAt != 0) {
            revert SigningCertificateWithdrawnAlready(issuerId, certificateHash);
        }
        declaration.withdrawnAt = uint64(block.timestamp);
        emit SigningCertificateWithdrawn(issuerId, certificateHash, msg.sender);
    }

    function _requireSigningCertificateAdmin(bytes32 issuerId) private view {
        if (_issuerAdmin(issuerId) != msg.sender) revert IssuerUnauthorizedAdmin(issuerId, msg.sender);
    }

    function _requireIssuerNotRetired(bytes32 issuerId) private view {
        _requireIssuer(issuerId);
        if (_issuerStatus(issuerId) == IssuerStatus.Retired) {
            revert SigningCertificateIssuerRetired(issuerId);
        }
    }
}
