// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IIssuerDirectory} from "./interfaces/IIssuerDirectory.sol";

/// @title Issuers and their operator accounts
/// @notice Governance creates issuers and changes their status; each issuer's admin
/// manages its operators. An operator account serves exactly one issuer, so every
/// anchoring and revocation is attributable to one issuer without an extra argument.
abstract contract IssuerDirectory is IIssuerDirectory {
    mapping(bytes32 issuerId => Issuer) private _issuers;
    mapping(address operator => bytes32 issuerId) private _operatorIssuer;

    /// @inheritdoc IIssuerDirectory
    function addOperator(bytes32 issuerId, address operator) external {
        Issuer storage issuer = _issuerAdministeredBySender(issuerId);
        if (issuer.status == IssuerStatus.Retired) revert IssuerNotActive(issuerId, issuer.status);
        if (operator == address(0)) revert IssuerOperatorNotAssigned(operator, issuerId);
        bytes32 current = _operatorIssuer[operator];
        if (current != bytes32(0)) revert IssuerOperatorAlreadyAssigned(operator, current);
        _operatorIssuer[operator] = issuerId;
        emit OperatorAdded(issuerId, operator, msg.sender);
    }

    /// @inheritdoc IIssuerDirectory
    function removeOperator(bytes32 issuerId, address operator) external {
        _issuerAdministeredBySender(issuerId);
        if (_operatorIssuer[operator] != issuerId) revert IssuerOperatorNotAssigned(operator, issuerId);
        delete _operatorIssuer[operator];
        emit OperatorRemoved(issuerId, operator, msg.sender);
    }

    /// @inheritdoc IIssuerDirectory
    function getIssuer(bytes32 issuerId) external view returns (Issuer memory) {
        return _issuers[issuerId];
    }

    /// @inheritdoc IIssuerDirectory
    function issuerOfOperator(address operator) external view returns (bytes32) {
        return _operatorIssuer[operator];
    }

    function _registerIssuer(
        bytes32 issuerId,
        bytes2 country,
        IssuerKind kind,
        address admin,
        string memory metadataCid
    ) internal {
        if (_issuers[issuerId].status != IssuerStatus.None) revert IssuerAlreadyRegistered(issuerId);
        if (issuerId == bytes32(0) || admin == address(0) || !_isCountryCode(country)) {
            revert IssuerInvalidRecord(issuerId);
        }
        _issuers[issuerId] = Issuer({
            country: country,
            kind: kind,
            status: IssuerStatus.Active,
            admin: admin,
            registeredAt: uint64(block.timestamp),
            statusChangedAt: uint64(block.timestamp),
            metadataCid: metadataCid
        });
        emit IssuerRegistered(issuerId, country, kind, admin, metadataCid);
    }

    function _setIssuerStatus(bytes32 issuerId, IssuerStatus newStatus) internal {
        Issuer storage issuer = _existingIssuer(issuerId);
        IssuerStatus previous = issuer.status;
        bool allowed = previous != IssuerStatus.Retired && newStatus != previous
            && (newStatus == IssuerStatus.Active || newStatus == IssuerStatus.Suspended
                || newStatus == IssuerStatus.Retired);
        if (!allowed) revert IssuerInvalidStatusTransition(issuerId, previous, newStatus);
        issuer.status = newStatus;
        issuer.statusChangedAt = uint64(block.timestamp);
        emit IssuerStatusChanged(issuerId, previous, newStatus);
    }

    function _setIssuerAdmin(bytes32 issuerId, address newAdmin) internal {
        Issuer storage issuer = _existingIssuer(issuerId);
        if (newAdmin == address(0)) revert IssuerInvalidRecord(issuerId);
        emit IssuerAdminChanged(issuerId, issuer.admin, newAdmin);
        issuer.admin = newAdmin;
    }

    function _setIssuerMetadata(bytes32 issuerId, string memory metadataCid) internal {
        _existingIssuer(issuerId).metadataCid = metadataCid;
        emit IssuerMetadataUpdated(issuerId, metadataCid);
    }

    /// @dev The issuer the caller operates for, with its status.
    function _senderIssuer() internal view returns (bytes32 issuerId, IssuerStatus status) {
        issuerId = _operatorIssuer[msg.sender];
        if (issuerId == bytes32(0)) revert IssuerUnauthorizedOperator(msg.sender);
        status = _issuers[issuerId].status;
    }

    function _issuerStatus(bytes32 issuerId) internal view returns (IssuerStatus) {
        return _issuers[issuerId].status;
    }

    function _issuerAdmin(bytes32 issuerId) internal view returns (address) {
        return _issuers[issuerId].admin;
    }

    function _requireIssuer(bytes32 issuerId) internal view {
        _existingIssuer(issuerId);
    }

    function _existingIssuer(bytes32 issuerId) private view returns (Issuer storage issuer) {
        issuer = _issuers[issuerId];
        if (issuer.status == IssuerStatus.None) revert IssuerUnknown(issuerId);
    }

    function _issuerAdministeredBySender(bytes32 issuerId) private view returns (Issuer storage issuer) {
        issuer = _existingIssuer(issuerId);
        if (issuer.admin != msg.sender) revert IssuerUnauthorizedAdmin(issuerId, msg.sender);
    }

    function _isCountryCode(bytes2 country) private pure returns (bool) {
        for (uint256 i = 0; i < 2; ++i) {
            if (country[i] < "A" || country[i] > "Z") return false;
        }
        return true;
    }
}
