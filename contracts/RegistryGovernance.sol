// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IRegistryGovernance} from "./interfaces/IRegistryGovernance.sol";

/// @title M-of-N governance by member institutes
/// @notice Proposals carry one administrative action and execute in the transaction
/// that brings their approvals to the threshold. Changing the governor set or the
/// threshold starts a new epoch, which invalidates every pending proposal, so an
/// approval given under one set of governors is never counted under another.
abstract contract RegistryGovernance is IRegistryGovernance {
    /// @notice Upper bound on governors, so the set stays cheap to read in full.
    uint256 public constant MAX_GOVERNORS = 64;

    // A bounded set with swap-and-pop removal. OpenZeppelin's EnumerableSet pulls in
    // `Arrays`, which needs MCOPY (Cancun); we compile for paris (see anchor/compile.py).
    address[] private _governorList;
    mapping(address governor => uint256 positionPlusOne) private _governorPosition;
    uint256 private _threshold;
    uint64 private _epoch;
    uint256 private _proposalCount;
    mapping(uint256 proposalId => Proposal) private _proposals;
    mapping(uint256 proposalId => mapping(address governor => bool)) private _approved;

    modifier onlyGovernor() {
        if (_governorPosition[msg.sender] == 0) revert GovernanceUnauthorizedAccount(msg.sender);
        _;
    }

    constructor(address[] memory initialGovernors, uint256 initialThreshold) {
        for (uint256 i = 0; i < initialGovernors.length; ++i) {
            _addGovernor(initialGovernors[i]);
        }
        _setThreshold(initialThreshold);
    }

    /// @inheritdoc IRegistryGovernance
    function propose(ActionKind kind, bytes calldata params) external onlyGovernor returns (uint256 proposalId) {
        proposalId = ++_proposalCount;
        Proposal storage proposal = _proposals[proposalId];
        proposal.kind = kind;
        proposal.epoch = _epoch;
        proposal.createdAt = uint64(block.timestamp);
        proposal.proposer = msg.sender;
        proposal.params = params;
        emit ProposalCreated(proposalId, kind, msg.sender, params, _epoch);
        _approve(proposalId, proposal);
    }

    /// @inheritdoc IRegistryGovernance
    function approve(uint256 proposalId) external onlyGovernor {
        Proposal storage proposal = _proposals[proposalId];
        if (proposal.proposer == address(0)) revert GovernanceUnknownProposal(proposalId);
        _approve(proposalId, proposal);
    }

    /// @inheritdoc IRegistryGovernance
    function getProposal(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }

    /// @inheritdoc IRegistryGovernance
    function hasApproved(uint256 proposalId, address governor) external view returns (bool) {
        return _approved[proposalId][governor];
    }

    /// @inheritdoc IRegistryGovernance
    function proposalCount() external view returns (uint256) {
        return _proposalCount;
    }

    /// @inheritdoc IRegistryGovernance
    function governors() external view returns (address[] memory) {
        return _governorList;
    }

    /// @inheritdoc IRegistryGovernance
    function isGovernor(address account) external view returns (bool) {
        return _governorPosition[account] != 0;
    }

    /// @inheritdoc IRegistryGovernance
    function threshold() external view returns (uint256) {
        return _threshold;
    }

    /// @inheritdoc IRegistryGovernance
    function governanceEpoch() external view returns (uint64) {
        return _epoch;
    }

    function _approve(uint256 proposalId, Proposal storage proposal) private {
        if (proposal.executed) revert GovernanceProposalAlreadyExecuted(proposalId);
        if (proposal.epoch != _epoch) revert GovernanceProposalStale(proposalId, proposal.epoch, _epoch);
        if (_approved[proposalId][msg.sender]) revert GovernanceAlreadyApproved(proposalId, msg.sender);
        _approved[proposalId][msg.sender] = true;
        uint32 approvals = ++proposal.approvals;
        emit ProposalApproved(proposalId, msg.sender, approvals);
        if (approvals >= _threshold) {
            // Effects before the action: a re-entrant approval sees `executed`.
            proposal.executed = true;
            _execute(proposal.kind, proposal.params);
            emit ProposalExecuted(proposalId, proposal.kind);
        }
    }

    function _execute(ActionKind kind, bytes memory params) private {
        if (kind == ActionKind.AddGovernor) {
            _addGovernor(abi.decode(params, (address)));
            _newEpoch();
        } else if (kind == ActionKind.RemoveGovernor) {
            _removeGovernor(abi.decode(params, (address)));
            _newEpoch();
        } else if (kind == ActionKind.SetThreshold) {
            _setThreshold(abi.decode(params, (uint256)));
            _newEpoch();
        } else {
            _executeRegistryAction(kind, params);
        }
    }

    /// @dev Runs the actions that concern the registry rather than governance itself.
    function _executeRegistryAction(ActionKind kind, bytes memory params) internal virtual;

    function _addGovernor(address governor) private {
        if (governor == address(0) || _governorList.length >= MAX_GOVERNORS || _governorPosition[governor] != 0) {
            revert GovernanceInvalidGovernor(governor);
        }
        _governorList.push(governor);
        _governorPosition[governor] = _governorList.length;
        emit GovernorAdded(governor);
    }

    function _removeGovernor(address governor) private {
        uint256 position = _governorPosition[governor];
        if (position == 0) revert GovernanceInvalidGovernor(governor);
        if (_governorList.length - 1 < _threshold) {
            revert GovernanceInvalidThreshold(_threshold, _governorList.length - 1);
        }
        address last = _governorList[_governorList.length - 1];
        _governorList[position - 1] = last;
        _governorPosition[last] = position;
        _governorList.pop();
        delete _governorPosition[governor];
        emit GovernorRemoved(governor);
    }

    function _setThreshold(uint256 newThreshold) private {
        if (newThreshold == 0 || newThreshold > _governorList.length) {
            revert GovernanceInvalidThreshold(newThreshold, _governorList.length);
        }
        emit ThresholdChanged(_threshold, newThreshold);
        _threshold = newThreshold;
    }

    function _newEpoch() private {
        ++_epoch;
    }
}
