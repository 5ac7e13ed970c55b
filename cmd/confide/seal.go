package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/seal"
)

// maxSealInput bounds what `confide seal` reads: sealing is for keys and
// state, not bulk data.
const maxSealInput = 64 << 20

func newSealCmd(self *launched, unseal bool) *cobra.Command {
	var policy, aad string
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal standard input to the CLI's enclave identity, writing the blob to standard output",
		Args:  cobra.NoArgs,
	}
	if unseal {
		cmd.Use, cmd.Short = "unseal", "Unseal a blob from standard input, writing the plaintext to standard output"
	} else {
		cmd.Flags().StringVar(&policy, "policy", "unique", "unique (same code and config) or product (same signer, product and config; SVN not lower)")
	}
	cmd.Flags().StringVar(&aad, "aad", "", "additional data bound to the blob")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		in, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxSealInput+1))
		if err != nil {
			return err
		}
		if len(in) > maxSealInput {
			return errTooLarge
		}
		p, err := self.connect(cmd.Context())
		if err != nil {
			return err
		}
		defer p.Close()
		s, err := seal.New(p, nil)
		if err != nil {
			return err
		}
		var out []byte
		if unseal {
			out, err = s.Unseal(cmd.Context(), in, []byte(aad))
		} else {
			var pol enclave.SealPolicy
			if pol, err = enclave.ParseSealPolicy(policy); err != nil {
				return err
			}
			out, err = s.Seal(cmd.Context(), pol, in, []byte(aad))
		}
		if err != nil {
			return err
		}
		//confide:ignore handing the unsealed plaintext to the user who runs `confide unseal` is the command's purpose
		_, err = cmd.OutOrStdout().Write(out)
		return err
	}
	return cmd
}
