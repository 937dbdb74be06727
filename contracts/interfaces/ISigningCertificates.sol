// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Signing certificates declared by issuers
/// @notice Each issuer declares the X.509 certificates its documents are signed with,
/// or the certificate authorities its signing certificates are issued by, each with
/// the period in which it signs for the issuer. A verifier then checks that an
/// anchored document's XAdES signer belongs to the anchoring issuer at signing time.
/// Declarations are keyed by the SHA-256 of the certificate's DER, which the contract
/// computes itself; the DER travels in the event only, so storage stays one slot.
interface ISigningCertificates {
    /// @notice What a declared certificate stands for. `None` marks an undeclared key.
    enum SigningCertificateKind {
        None,
        Signer, // the certificate that signs documents itself
        Authority // a CA: any certificate it issued signs for the issuer
    }

    /// @notice One declaration; one storage slot. `withdrawnAt == 0` means in force.
    struct SigningCertificate {
        SigningCertificateKind kind;
        uint64 validFrom;
        uint64 validUntil;
        uint64 withdrawnAt;
    }

    /// @notice Emitted when the issuer's admin or governance declared a signing certificate,
    /// or re-declared one with a new period (the latest declaration applies).
    /// @param certificate The certificate's DER; `certificateHash` is its SHA-256.
    /// @param account The admin, or the executing governor for a governance action.
    event SigningCertificateDeclared(
        bytes32 indexed issuerId,
        bytes32 indexed certificateHash,
        SigningCertificateKind kind,
        uint64 validFrom,
        uint64 validUntil,
        bytes certificate,
        address account
    );
    /// @notice Emitted when a declaration was withdrawn; documents anchored from then on
    /// no longer count as signed for the issuer by it. Withdrawal is final.
    event SigningCertificateWithdrawn(
        bytes32 indexed issuerId, bytes32 indexed certificateHash, address account
    );

    /// @dev An empty certificate, kind `None`, or a period that ends before it starts.
    error SigningCertificateInvalid(bytes32 issuerId, bytes32 certificateHash);
    /// @dev The certificate is not declared for this issuer.
    error SigningCertificateUnknown(bytes32 issuerId, bytes32 certificateHash);
    /// @dev The declaration was withdrawn; a withdrawn certificate is never declared again.
    error SigningCertificateWithdrawnAlready(bytes32 issuerId, bytes32 certificateHash);
    /// @dev The issuer is retired: its declarations are frozen.
    error SigningCertificateIssuerRetired(bytes32 issuerId);

    /// @notice Declare a signing certificate (or CA) for `issuerId`. Only the issuer's admin;
    /// governance does the same with `ActionKind.DeclareSigningCertificate`.
    /// @param issuerId The issuer.
    /// @param certificate DER of the X.509 certificate.
    /// @param kind `Signer` or `Authority`.
    /// @param validFrom Unix time from which documents signed with it count for the issuer.
    /// @param validUntil Unix time until which (inclusive) they count.
    /// @return certificateHash SHA-256 of `certificate`, the declaration's key.
    function declareSigningCertificate(
        bytes32 issuerId,
        bytes calldata certificate,
        SigningCertificateKind kind,
        uint64 validFrom,
        uint64 validUntil
    ) external returns (bytes32 certificateHash);

    /// @notice Withdraw a declaration. Only the issuer's admin; governance does the same
    /// with `ActionKind.WithdrawSigningCertificate`.
    /// @param issuerId The issuer.
    /// @param certificateHash SHA-256 of the certificate's DER.
    function withdrawSigningCertificate(bytes32 issuerId, bytes32 certificateHash) external;

    /// @notice The declaration of `certificateHash` by `issuerId` (kind `None` if none).
    function getSigningCertificate(bytes32 issuerId, bytes32 certificateHash)
        external
        view
        returns (SigningCertificate memory);

    /// @notice Number of certificates ever declared for `issuerId`; positions run from 1.
    function signingCertificateCount(bytes32 issuerId) external view returns (uint256);

    /// @notice The certificate hash declared `position`-th for `issuerId` (1-based).
    function signingCertificateAt(bytes32 issuerId, uint256 position) external view returns (bytes32);
}
