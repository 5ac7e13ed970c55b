// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Probe
/// @notice Exercises EVM features in the Ethereum app's tests: revert
/// reasons, custom errors, transient storage (EIP-1153), MCOPY (EIP-5656),
/// PUSH0 (EIP-3855, emitted by the compiler for Shanghai and later),
/// storage writes with events, and running out of gas.
contract Probe {
    /// @notice Raised by failCustom.
    error Nope(uint256 code);

    /// @notice Emitted by bump with the counter's new value.
    event Bumped(address indexed by, uint256 value);

    uint256 public counter;

    /// @dev Written by burnGas, one slot per iteration.
    mapping(uint256 => uint256) private sink;

    /// @notice Always reverts with Error(string) carrying `why`.
    function fail(string calldata why) external pure {
        revert(why);
    }

    /// @notice Always reverts with the custom error Nope(code).
    function failCustom(uint256 code) external pure {
        revert Nope(code);
    }

    /// @notice Stores x+1 in transient storage, reads it back and returns it.
    /// @dev The zero constants the compiler needs here are PUSH0 on Shanghai+.
    function push0AndTransient(uint256 x) external returns (uint256 y) {
        uint256 v = x + 1;
        assembly {
            tstore(0, v)
            y := tload(0)
            // Leave transient slot 0 as it was at the start of the call
            // frame, as a well-behaved contract should.
            tstore(0, 0)
        }
    }

    /// @notice Returns a copy of `b` made in memory with MCOPY.
    function mcopy(bytes calldata b) external pure returns (bytes memory out) {
        bytes memory src = b; // calldata -> memory
        out = new bytes(src.length);
        assembly {
            mcopy(add(out, 0x20), add(src, 0x20), mload(src))
        }
    }

    /// @notice Increments counter, emits Bumped and returns the new value.
    function bump() external returns (uint256) {
        uint256 value = ++counter;
        emit Bumped(msg.sender, value);
        return value;
    }

    /// @notice Writes a fresh storage slot n times; with a large n it runs
    /// out of gas.
    function burnGas(uint256 n) external {
        for (uint256 i = 0; i < n; ++i) {
            sink[i] = i + 1;
        }
    }
}
