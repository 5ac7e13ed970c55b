// Package contracts holds the Solidity contracts the Ethereum app's tests
// deploy, compiled by build.sh with the npm solc compiler, and their
// go-ethereum v2 bindings.
//
// Token.sol is a minimal ERC-20 token; Probe.sol exercises EVM features
// (revert reasons, custom errors, transient storage, MCOPY, PUSH0, events,
// running out of gas). build/<Name>.abi and build/<Name>.bin are the
// compiler's output; token.go and probe.go are generated from them by
// go-ethereum's abigen --v2. Do not edit any of these by hand: change the
// .sol files and run
//
//	bash ledger/eth/contracts/build.sh
//
// from the repository root. TestArtifactsCurrent runs build.sh --check to
// make sure the committed artifacts match the sources.
package contracts
