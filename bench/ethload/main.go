// Command ethload is the load generator of the Ethereum benchmark ("Coco
// Ethereum versus Ethereum"; bench/eth.sh runs it): a closed loop of ERC-20
// transfers against any Ethereum JSON-RPC endpoint, confide's Ethereum app
// or geth alike. It starts nothing. The workload, what is measured and
// how it is verified are package ledger/eth/ethload's.
//
// It prints one human line and one JSON line {"label","transfers",
// "seconds","tps","p50_ms","p99_ms","failed","inflight","senders",
// "verified","why"} (-json appends it to a file too), and exits 1 if the
// run could not be made or its verification failed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"os"
	"time"

	"github.com/confide/confide/ledger/eth/ethload"
)

func main() {
	var c ethload.Config
	flag.StringVar(&c.RPC, "rpc", "", "JSON-RPC endpoint (http:// or https://)")
	flag.StringVar(&c.Cert, "cert", "", "client certificate PEM (https)")
	flag.StringVar(&c.Key, "key", "", "client key PEM (https)")
	flag.StringVar(&c.CA, "ca", "", "CA or service certificate PEM to trust (https)")
	flag.StringVar(&c.AccountsFile, "accounts", "", `funded accounts: JSON [{"address","private_key"}], hex with 0x`)
	flag.StringVar(&c.DevKey, "dev-key", "", "one funded private key (hex)")
	flag.BoolVar(&c.FundFromNode, "fund-from-node", false, "fund by eth_sendTransaction from the node's eth_accounts[0] (geth --dev)")
	flag.Int64Var(&c.FundEther, "fund", 10, "ether given to the deployer and to each sender")
	flag.IntVar(&c.Senders, "senders", 64, "sender accounts (each has at most one transaction in flight)")
	flag.IntVar(&c.Inflight, "inflight", 256, "transactions in flight at most, overall")
	flag.IntVar(&c.Transfers, "transfers", 10000, "transfers to make in the measured phase")
	flag.DurationVar(&c.Duration, "duration", 0, "run the measured phase this long instead of -transfers")
	flag.StringVar(&c.Label, "label", "eth", "label of the result")
	jsonOut := flag.String("json", "", "append the JSON result line to this file")
	flag.DurationVar(&c.Poll, "poll", 5*time.Millisecond, "receipt polling interval")
	pollBatch := flag.Bool("poll-batch", true, "poll the receipts of all transactions in flight in one JSON-RPC batch (else each sender polls its own)")
	flag.DurationVar(&c.ReceiptTimeout, "receipt-timeout", 2*time.Minute, "give up on a transaction's receipt after this long")
	flag.DurationVar(&c.Stall, "stall", time.Minute, "end the measured phase early once transfers fail and none has committed for this long")
	flag.Parse()
	c.PollEach = !*pollBatch
	log.SetFlags(0)
	log.SetPrefix("ethload: ")
	c.Out = os.Stdout
	c.Log = log.Default()
	r, err := ethload.Run(context.Background(), c)
	if err != nil {
		log.Fatal(err)
	}
	line, _ := json.Marshal(r)
	os.Stdout.Write(append(line, '\n'))
	if *jsonOut != "" {
		f, err := os.OpenFile(*jsonOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	if !r.Verified {
		os.Exit(1)
	}
}
