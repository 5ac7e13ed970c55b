// Package jsonrpc serves the ledger's Ethereum app (package eth) as
// Ethereum JSON-RPC on every node, over the ledger's TLS and
// authenticated by the ledger's user certificates: go-ethereum's rpc
// server (batches, error codes, WebSocket) with the methods wallets,
// ethers and go-ethereum's client use.
//
// Reads are served by the node from its state; eth_sendRawTransaction
// runs on the primary (a backup forwards it with the caller's user ID,
// as the app framework forwards writes). The primary holds a bounded
// number of future-nonce transactions per sender until the gap fills,
// and drops them when it stops being primary. A transaction is mined
// once the ledger transaction that closed its block is committed on the
// node answering; until then its receipt is null.
package jsonrpc
