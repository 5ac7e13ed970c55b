package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/ledger/entry"
	"github.com/confide/confide/ledger/recovery"
	"github.com/confide/confide/ledger/sandbox"
)

// recoverCmd is `confide ledger recover`: disaster recovery from a node's
// ledger files (spec/ledger-governance.md §8).
func recoverCmd(self *launched) *cobra.Command {
	var from, oldCert, dir, listen string
	var nodes int
	cmd := &cobra.Command{
		Use:   "recover --from OLD_NODE_DIR --service-cert OLD_SERVICE_CERT --dir NEW_DIR",
		Short: "Recover a ledger service from a node's ledger files, with the recovery members' shares",
		Long: `recover audits the ledger files of a node of the lost service, reopens the
public state they prove, and prepares a new network for a new service identity
in --dir (as 'ledger sandbox' does). It then serves the recovery members over
attested TLS (its address in NEW_DIR/recovery.json): they vote the service
open (a transition_service_to_open proposal), then each fetches and decrypts
its share and submits it, checking the recovery service's evidence against
their attestation policy first:

  confide ledger gov --cert … --key … --policy POLICY.json --node ADDRESS share --submit

Once the threshold's shares unwrap the ledger's secrets and they open every
transaction, the new nodes start with the old history, the new service
endorsing the old one, and run until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			old, err := readCert(oldCert)
			if err != nil {
				return err
			}
			s, err := recovery.Open(from, old)
			if err != nil {
				return err
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if err := sandbox.Prepare(sandbox.Options{Nodes: nodes, Dir: abs}); err != nil {
				return err
			}
			var dirs []string
			for i := 1; i <= nodes; i++ {
				dirs = append(dirs, filepath.Join(abs, "nodes", fmt.Sprint(i)))
			}
			// The members' shares come here: the service attests itself
			// (attested TLS), and members check its evidence against their
			// policy before they send anything (gov … --policy).
			p, err := self.connect(ctx)
			if err != nil {
				return fmt.Errorf("ledger recover: the platform: %w", err)
			}
			defer p.Close()
			tc, err := (&atls.Config{Attester: p}).ServerConfig()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			got := make(chan []entry.Epoch, 1)
			srv := &http.Server{Handler: s.Handler(func(e []entry.Epoch) { got <- e }), TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second}
			go srv.ServeTLS(ln, "", "")
			rec, _ := json.Marshal(map[string]string{"address": ln.Addr().String()})
			if err := os.WriteFile(filepath.Join(abs, "recovery.json"), rec, 0o644); err != nil {
				return err
			}
			txs, threshold := s.Sizes()
			fmt.Fprintf(out, "ledger recover: %d transactions proven; waiting for the members' vote and %d shares at https://%s (attested TLS; the new service certificate is %s)\n",
				txs, threshold, ln.Addr(), filepath.Join(abs, sandbox.ServiceCert))
			var epochs []entry.Epoch
			select {
			case epochs = <-got:
			case <-ctx.Done():
				srv.Close()
				return ctx.Err()
			}
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			srv.Shutdown(sctx)
			cancel()
			if err := s.Continue(epochs, from, old, dirs); err != nil {
				return err
			}
			fmt.Fprintf(out, "ledger recover: %d secrets recovered; starting %d nodes in %s\n", len(epochs), nodes, abs)
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			sb, err := sandbox.Start(sandbox.Options{Nodes: nodes, Dir: abs, Log: cmd.ErrOrStderr(),
				Command: func(cfg string) []string { return []string{exe, "ledger", "node", "--config", cfg} }})
			if err != nil {
				return err
			}
			for _, n := range sb.Nodes() {
				fmt.Fprintf(out, "  node %d: https://%s (pid %d)\n", n.RaftID, n.RPCAddress, n.PID)
			}
			return sb.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "a node directory (or its ledger directory) of the lost service")
	cmd.Flags().StringVar(&oldCert, "service-cert", "", "the lost service's certificate (PEM)")
	cmd.Flags().StringVar(&dir, "dir", "ledger-recovered", "the new network's directory")
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of new nodes")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "where to take the members' shares")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("service-cert")
	return cmd
}
