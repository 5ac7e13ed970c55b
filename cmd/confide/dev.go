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
		Args:  cobra.NoArgs,
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
			return servePlatform(cmd, dir, 0, func() {
				fmt.Fprintf(out, "platform   unix://%s  (simulated TEE; trust root %s)\n",
					filepath.Join(dir, sim.SocketFile), filepath.Join(dir, sim.RootCertFile))
				fmt.Fprintln(out, "ready; Ctrl-C stops")
			})
		},
	}
}
