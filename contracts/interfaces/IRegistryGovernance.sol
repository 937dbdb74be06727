// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Governance of the certificate registry by its member institutes
/// @notice Administrative actions run only after `threshold` distinct governors
/// approved the same proposal. No single key controls the registry.
interface IRegistryGovernance {
    /// @notice The administrative actions a proposal can carry. `params` is the
    /// ABI encoding of the arguments listed for each kind.
    enum ActionKind {
        RegisterIssuer, // (bytes32 issuerId, bytes2 country, uint8 kind, address admin, string metadataCid)
        SetIssuerStatus, // (bytes32 issuerId, uint8 status)
        SetIssuerAdmin, // (bytes32 issuerId, address admin)
        SetIssuerMetadata, // (bytes32 issuerId, string metadataCid)
        AddGovernor, // (address governor)
        RemoveGovernor, // (address governor)
        SetThreshold, // (uint256 threshold)
        Pause, // ()
        Unpause, // ()
        SetAccreditation, // (bytes32 issuerId, bytes32 documentHash, string documentCid, uint64 effectiveFrom)
        DeclareSigningCertificate, // (bytes32 issuerId, bytes certificate, uint8 kind, uint64 validFrom, uint64 validUntil)
        WithdrawSigningCertificate // (bytes32 issuerId, bytes32 certificateHash)
    }

    /// @notice A proposal and its progress.
    struct Proposal {
        ActionKind kind;
        bool executed;
        uint32 approvals;
        uint64 epoch;
        uint64 createdAt;
        address proposer;
        bytes params;
    }

    /// @notice Emitted when a governor proposes an action (the proposer's approval counts).
    event ProposalCreated(
        uint256 indexed proposalId, ActionKind indexed kind, address indexed proposer, bytes params, uint64 epoch
    );
    /// @notice Emitted for every approval, including the proposer's own.
    event ProposalApproved(uint256 indexed proposalId, address indexed governor, uint32 approvals);
    /// @notice Emitted when a proposal reached the threshold and its action ran.
    event ProposalExecuted(uint256 indexed proposalId, ActionKind indexed kind);
    /// @notice Emitted when an account became a governor.
    event GovernorAdded(address indexed governor);
    /// @notice Emitted when an account stopped being a governor.
    event GovernorRemoved(address indexed governor);
    /// @notice Emitted when the number of approvals a proposal needs changed.
    event ThresholdChanged(uint256 previousThreshold, uint256 newThreshold);

    /// @dev `account` is not a governor.
    error GovernanceUnauthorizedAccount(address account);
    /// @dev The governor set or threshold would be invalid.
    error GovernanceInvalidThreshold(uint256 threshold, uint256 governorCount);
    /// @dev Zero address, duplicate, missing or over-limit governor.
    error GovernanceInvalidGovernor(address governor);
    /// @dev No proposal with this id.
    error GovernanceUnknownProposal(uint256 proposalId);
    /// @dev The proposal already ran; it can never run again.
    error GovernanceProposalAlreadyExecuted(uint256 proposalId);
    /// @dev The governor set or threshold changed since the proposal was made.
    error GovernanceProposalStale(uint256 proposalId, uint64 proposalEpoch, uint64 currentEpoch);
    /// @dev This governor already approved this proposal.
    error GovernanceAlreadyApproved(uint256 proposalId, address governor);
    /// @dev The action's parameters do not decode or are out of range.
    error GovernanceInvalidAction(ActionKind kind);

    /// @notice Propose an administrative action; counts as the caller's approval and
    /// executes at once when the threshold is 1.
    /// @param kind The action.
    /// @param params ABI-encoded arguments of the action (see `ActionKind`).
    /// @return proposalId The new proposal's id.
    function propose(ActionKind kind, bytes calldata params) external returns (uint256 proposalId);

    /// @notice Approve a pending proposal; executes it when this approval reaches the threshold.
    /// @param proposalId The proposal to approve.
    function approve(uint256 proposalId) external;

    /// @notice A proposal by id.
    function getProposal(uint256 proposalId) external view returns (Proposal memory);

    /// @notice Whether `governor` approved `proposalId`.
    function hasApproved(uint256 proposalId, address governor) external view returns (bool);

    /// @notice Number of proposals ever made; ids run from 1 to this.
    function proposalCount() external view returns (uint256);

    /// @notice The current governors.
    function governors() external view returns (address[] memory);

    /// @notice Whether `account` is a governor.
    function isGovernor(address account) external view returns (bool);

    /// @notice Approvals a proposal needs.
    function threshold() external view returns (uint256);

    /// @notice Increases whenever the governor set or the threshold changes; pending
    /// proposals of an earlier epoch can no longer be approved.
    function governanceEpoch() external view returns (uint64);
}
