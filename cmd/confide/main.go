// Command confide is the one binary of the confide platform. Subcommands
// wire packages together and do nothing else.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
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
		args = self.manifest.Entry
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
		newSealCmd(self, false),
		newSealCmd(self, true),
		newEnclaveCmd(self),
		newVetCmd(),
		newDemoCmd(),
	)
	return root
}

var errUsage = errors.New("usage")
