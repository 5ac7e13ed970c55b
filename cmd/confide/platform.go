package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave/sim"
)

func newPlatformCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{Use: "platform", Short: "Manage the simulated TEE platform"}
	cmd.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create the simulated platform: vendor root, attestation key, sealing secret, dev signer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := platformDir()
			if err != nil {
				return err
			}
			if _, err := sim.Init(dir, sim.InitOptions{}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialized SIMULATED platform in %s\ntrust root: %s/%s\n", dir, dir, sim.RootCertFile)
			return nil
		},
	})
	var idle time.Duration
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the simulated platform on $CONFIDE_HOME/platform/platform.sock",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := platformDir()
			if err != nil {
				return err
			}
			return servePlatform(cmd, dir, idle, nil)
		},
	}
	serve.Flags().DurationVar(&idle, "idle", 0, "exit after this long without clients (0: never)")
	cmd.AddCommand(serve)
	return cmd
}

func servePlatform(cmd *cobra.Command, dir string, idle time.Duration, ready func()) error {
	keys, err := sim.Load(dir, sim.InitOptions{})
	if err != nil {
		return err
	}
	l, err := sim.Listen(dir)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	log.Info("SIMULATED platform serving", "socket", l.Addr().String(), "idle_exit", idle, "report_version", keys.ReportVersion())
	if ready != nil {
		ready()
	}
	s := &sim.Server{Keys: keys, Log: log, IdleTimeout: idle}
	return s.Serve(cmd.Context(), l)
}
