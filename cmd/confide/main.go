// Command confide is the one binary of the confide platform. Subcommands
// wire packages together and do nothing else.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// go vet -vettool=confide speaks the vet-tool protocol, not our CLI.
	if isVetTool(os.Args[1:]) {
		vetToolMain() // does not return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "confide:", err)
		os.Exit(1)
	}
}

// run executes the command line, or, when the process was launched as an
// enclave (CONFIDE_ENCLAVE), the entry point its manifest fixes: a host
// cannot run other code under a service's identity by choosing arguments.
func run(ctx context.Context, args []string) error {
	self, err := launchManifest()
	if err != nil {
		return err
	}
	if len(self.manifest.Entry) != 1 || self.manifest.Entry[0] != "cli" {
		args = append(slices.Clone(self.manifest.Entry), hostArgs(args)...)
	}
	root := newRoot(self)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func newRoot(self *launched) *cobra.Command {
	root := &cobra.Command{
		Use:   "confide",
		Short: "confide: confidential computing — data encrypted at rest, in transit and in use",
		Long: `confide runs sensitive workloads inside trusted execution environments (TEEs)
whose code is measured and attested. Without hardware it runs on a SIMULATED
TEE, which is marked as such in all evidence and rejected by production policies.

State lives under $CONFIDE_HOME (default ~/.confide).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDevCmd(self),
		newPlatformCmd(self),
		newAttestCmd(self),
		newKMSCmd(self),
		newSQLCmd(self),
		newSealCmd(self, false),
		newSealCmd(self, true),
		newEnclaveCmd(self),
		newVetCmd(),
		newDemoCmd(self),
		newMLCmd(self),
		newLedgerCmd(self),
		newEthCmd(),
		newSGXCmd(),
		newConsoleCmd(),
	)
	return root
}

var errUsage = errors.New("usage")

// hostFlags are the flags a host may add to an enclave's fixed entry
// point: where it listens and keeps its files, and values the service
// checks against its manifest (pin) before using them.
var hostFlags = []string{"addr", "data", "principals", "attest", "attest-policy", "kms", "kms-policy"}

// hostArgs returns the command line if it consists only of host flags in
// --name=value form, and nothing otherwise: an enclave's command is its
// manifest's, and anything else on the command line is ignored.
func hostArgs(args []string) []string {
	for _, a := range args {
		name, _, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok || !slices.Contains(hostFlags, name) {
			return nil
		}
	}
	return args
}
