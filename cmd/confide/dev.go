package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave/sim"
)

func newDevCmd(self *launched) *cobra.Command {
	return &cobra.Command{
		Use:   "dev",
		Short: "Run every confide service locally on the SIMULATED TEE, printing where each listens",
		Long: `dev initialises the simulated platform if needed and runs every confide
service locally, printing what it started and where. Everything runs on the
SIMULATED TEE: evidence is marked platform=sim and debug=true, and production
policies reject it. Ctrl-C stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := platformDir()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if _, err := os.Stat(filepath.Join(dir, sim.RootCertFile)); errors.Is(err, os.ErrNotExist) {
				if _, err := sim.Init(dir, sim.InitOptions{}); err != nil {
					return err
				}
				fmt.Fprintf(out, "initialized SIMULATED platform in %s\n", dir)
			}
			fmt.Fprintln(out, "confide dev: SIMULATED TEE — evidence is marked platform=sim, debug=true; not for production data")
			ready := func(note string) {
				fmt.Fprintf(out, "platform   unix://%s  (simulated TEE%s; trust root %s)\n",
					filepath.Join(dir, sim.SocketFile), note, filepath.Join(dir, sim.RootCertFile))
				fmt.Fprintln(out, "ready; Ctrl-C stops")
			}
			err = servePlatform(cmd, dir, 0, func() { ready("") })
			if errors.Is(err, sim.ErrPlatformRunning) {
				// One started on demand by an earlier command: use it.
				ready(", already running")
				<-cmd.Context().Done()
				return nil
			}
			return err
		},
	}
}
