// ethers v6 against the ledger's Ethereum app (through `confide eth
// proxy`): deploy the ERC-20, transfer, read balances, filter and
// listen for Transfer logs, and see a revert's reason — what a dapp
// does. argv: node_modules directory. env: RPC_URL, KEY, KEY2, ABI, BIN.
// Prints one JSON line of what it saw; exits 1 on any failure.
const path = require("path");
const fs = require("fs");
const { ethers } = require(path.join(process.argv[2], "ethers"));

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
}

(async () => {
  // ethers caches identical calls for 250 ms by default, the pending
  // nonce included: on a chain that mines in milliseconds a wallet would
  // reuse a nonce. cacheTimeout -1 (a documented option) turns it off.
  const provider = new ethers.JsonRpcProvider(process.env.RPC_URL, undefined, { cacheTimeout: -1, pollingInterval: 50 });
  const wallet = new ethers.Wallet(process.env.KEY, provider);
  const other = new ethers.Wallet(process.env.KEY2, provider);
  const abi = JSON.parse(fs.readFileSync(process.env.ABI, "utf8"));
  const bin = "0x" + fs.readFileSync(process.env.BIN, "utf8").trim();
  const net = await provider.getNetwork();

  const factory = new ethers.ContractFactory(abi, bin, wallet);
  const token = await factory.deploy("Ethers Token", "ETK", 1000000n);
  await token.waitForDeployment();
  const addr = await token.getAddress();
  check((await token.balanceOf(wallet.address)) === 1000000n, "deployer balance");

  // A listener (eth_newFilter / eth_getFilterChanges under the hood).
  const heard = new Promise((resolve) => {
    // With a topic filter ethers passes only the event payload (its
    // args decoded); with a bare event name, the args then the payload.
    token.on(token.filters.Transfer(wallet.address, other.address), (...args) => resolve(args[args.length - 1].args.value));
  });
  const tx = await token.transfer(other.address, 123n);
  const rc = await tx.wait();
  check(rc.status === 1, "transfer status");
  check((await token.balanceOf(other.address)) === 123n, "payee balance");
  const block = await provider.getBlock(rc.blockNumber, true);
  check(block.hash === rc.blockHash && block.prefetchedTransactions.some((t) => t.hash === tx.hash), "block with the transfer");

  const logs = await token.queryFilter(token.filters.Transfer(null, other.address), 0);
  check(logs.length === 1 && logs[0].args.value === 123n && logs[0].transactionHash === tx.hash, "queryFilter");
  const value = await Promise.race([heard, new Promise((_, rej) => setTimeout(() => rej(new Error("no Transfer event")), 10000))]);
  check(value === 123n, "listener value: " + value);
  await token.removeAllListeners();

  // A revert: the reason reaches ethers (from estimateGas).
  let reason = "";
  try {
    await token.connect(other).transfer(wallet.address, 10n ** 9n);
  } catch (e) {
    reason = e.reason || e.shortMessage || String(e);
  }
  check(reason.includes("Token: transfer amount exceeds balance"), "revert reason, got: " + reason);

  // Several transactions at once, in reverse nonce order: the later
  // nonces wait on the node for the gap to fill, as in geth's pool.
  const base = await wallet.getNonce("pending");
  const sent = [];
  for (let i = 4; i >= 0; i--) {
    sent.push(await token.transfer(other.address, 1n, { nonce: base + i, gasLimit: 100000n }));
  }
  check((await provider.getTransactionCount(wallet.address, "pending")) >= base, "pending nonce");
  const rcs = await Promise.all(sent.map((t) => t.wait()));
  check(rcs.every((r) => r.status === 1), "batch statuses");
  check((await token.balanceOf(other.address)) === 128n, "batch balance");

  console.log(JSON.stringify({ chainId: Number(net.chainId), token: addr, block: rc.blockNumber, reason }));
  provider.destroy();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
