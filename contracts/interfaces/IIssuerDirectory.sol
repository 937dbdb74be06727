// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Directory of certificate issuers and their operator accounts
/// @notice Issuers are national metrology institutes and accredited laboratories,
/// registered by governance. Each issuer's admin account manages the operator
/// accounts that anchor and revoke on its behalf, so keys rotate without
/// touching past records.
interface IIssuerDirectory {
    /// @notice Lifecycle of an issuer. Only `Active` issuers anchor; `Retired` is final.
    enum IssuerStatus {
        None,
        Active,
        Suspended,
        Retired
    }

    /// @notice What governance recognises an issuer as.
    enum IssuerKind {
        NationalMetrologyInstitute,
        AccreditedLaboratory,
        Other
    }

    /// @notice An issuer's record.
    struct Issuer {
        bytes2 country;
        IssuerKind kind;
        IssuerStatus status;
        address admin;
        uint64 registeredAt;
        uint64 statusChangedAt;
        string metadataCid;
    }

    /// @notice Emitted when governance registered an issuer.
    event IssuerRegistered(
        bytes32 indexed issuerId, bytes2 country, IssuerKind kind, address indexed admin, string metadataCid
    );
    /// @notice Emitted when governance changed an issuer's status.
    event IssuerStatusChanged(bytes32 indexed issuerId, IssuerStatus previousStatus, IssuerStatus newStatus);
    /// @notice Emitted when governance replaced an issuer's admin account.
    event IssuerAdminChanged(bytes32 indexed issuerId, address indexed previousAdmin, address indexed newAdmin);
    /// @notice Emitted when governance replaced an issuer's metadata document.
    event IssuerMetadataUpdated(bytes32 indexed issuerId, string metadataCid);
    /// @notice Emitted when an issuer's admin authorised an operator account.
    event OperatorAdded(bytes32 indexed issuerId, address indexed operator, address indexed admin);
    /// @notice Emitted when an issuer's admin withdrew an operator account.
    event OperatorRemoved(bytes32 indexed issuerId, address indexed operator, address indexed admin);

    /// @dev No issuer with this id.
    error IssuerUnknown(bytes32 issuerId);
    /// @dev An issuer with this id exists already.
    error IssuerAlreadyRegistered(bytes32 issuerId);
    /// @dev Zero id, zero admin or a country code that is not two capital letters.
    error IssuerInvalidRecord(bytes32 issuerId);
    /// @dev The issuer's status does not allow this action.
    error IssuerNotActive(bytes32 issuerId, IssuerStatus status);
    /// @dev This status change is not allowed (retirement is final).
    error IssuerInvalidStatusTransition(bytes32 issuerId, IssuerStatus from, IssuerStatus to);
    /// @dev `account` is not the admin of `issuerId`.
    error IssuerUnauthorizedAdmin(bytes32 issuerId, address account);
    /// @dev `account` is not an operator of any issuer.
    error IssuerUnauthorizedOperator(address account);
    /// @dev `operator` already acts for `issuerId` (an account serves one issuer at most).
    error IssuerOperatorAlreadyAssigned(address operator, bytes32 issuerId);
    /// @dev `operator` does not act for `issuerId`.
    error IssuerOperatorNotAssigned(address operator, bytes32 issuerId);

    /// @notice Authorise `operator` to anchor and revoke for `issuerId`. Only the issuer's admin.
    /// @param issuerId The issuer.
    /// @param operator The account to authorise; it must not serve another issuer.
    function addOperator(bytes32 issuerId, address operator) external;

    /// @notice Withdraw `operator`'s authority for `issuerId`. Only the issuer's admin.
    /// Past batches and revocations stay valid.
    /// @param issuerId The issuer.
    /// @param operator The account to withdraw.
    function removeOperator(bytes32 issuerId, address operator) external;

    /// @notice An issuer's record (status `None` when unknown).
    function getIssuer(bytes32 issuerId) external view returns (Issuer memory);

    /// @notice The issuer `operator` acts for, or zero.
    function issuerOfOperator(address operator) external view returns (bytes32);
}
