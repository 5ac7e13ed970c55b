package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/confide/confide/vet"
)

// isVetTool reports whether confide was started by `go vet
// -vettool=confide` (arguments -V=full, -flags, or a *.cfg file), which
// must be handled before subcommands are parsed.
func isVetTool(args []string) bool { return vet.IsVetTool(args) }

// vetToolMain runs the leak checker under go vet's tool protocol; it
// does not return.
func vetToolMain() { vet.VetToolMain() }

const vetUsage = `usage: confide vet [-json] [-sarif FILE] [-suppressions] [packages]

Vet checks Go packages (default ./...) for direct leaks (a secret
written out of the enclave without a declassifier) and indirect leaks
(a secret-dependent branch, index or variable-time operation in an
oblivious function). It runs 'go vet -vettool=confide', so go's cache
keeps the results of unchanged packages. Findings are printed as
file:line:col: message; the exit status is non-zero when there is any.
The annotations and rules are documented in package
github.com/confide/confide/vet.

Flags:
`

func newVetCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "vet [-json] [-sarif FILE] [-suppressions] [packages]",
		Short:              "Check Go packages for direct and indirect leaks of secrets",
		DisableFlagParsing: true, // go-style single-dash flags
		RunE: func(cmd *cobra.Command, args []string) error {
			fs := flag.NewFlagSet("vet", flag.ContinueOnError)
			fs.SetOutput(cmd.ErrOrStderr())
			jsonOut := fs.Bool("json", false, "print go vet's JSON instead of text")
			sarif := fs.String("sarif", "", "also write a SARIF 2.1.0 log to `FILE`")
			supp := fs.Bool("suppressions", false, "list every //confide:ignore with its reason instead of checking")
			fs.Usage = func() {
				fmt.Fprint(fs.Output(), vetUsage)
				fs.PrintDefaults()
			}
			if err := fs.Parse(args); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return nil
				}
				return errUsage
			}
			ctx := cmd.Context()
			dir, err := os.Getwd()
			if err != nil {
				return err
			}
			if *supp {
				ss, err := vet.Suppressions(ctx, dir, fs.Args())
				if err != nil {
					return err
				}
				if err := vet.WriteSuppressions(cmd.OutOrStdout(), dir, ss); err != nil {
					return err
				}
				for _, s := range ss {
					if s.Reason == "" {
						return errors.New("vet: a //confide:ignore has no reason")
					}
				}
				return nil
			}
			res, runErr := vet.Run(ctx, vet.Options{Dir: dir, Patterns: fs.Args()})
			if res == nil {
				return runErr
			}
			if *jsonOut {
				_, err = cmd.OutOrStdout().Write(res.JSON)
			} else {
				err = vet.WriteText(cmd.OutOrStdout(), dir, res.Findings)
			}
			if err != nil {
				return err
			}
			if *sarif != "" {
				if err := writeSARIF(*sarif, dir, res.Findings); err != nil {
					return err
				}
			}
			if runErr != nil {
				return runErr
			}
			if n := len(res.Findings); n > 0 {
				return fmt.Errorf("vet: %d finding(s): %w", n, vet.ErrFindings)
			}
			return nil
		},
	}
}

func writeSARIF(name, dir string, fs []vet.Finding) error {
	f, err := os.Create(filepath.Clean(name))
	if err != nil {
		return err
	}
	if err := vet.WriteSARIF(f, dir, fs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
