package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
)

var errTooLarge = errors.New("input too large")

func newEnclaveCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{Use: "enclave", Short: "Build, sign and inspect enclave images"}

	var keyFile, manifestFile, exeFile, out string
	var product, svn uint16
	var debug bool
	sign := &cobra.Command{
		Use:   "sign",
		Short: "Sign an enclave image: executable + manifest, with product ID, SVN and debug flag",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kb, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			k, err := sim.ParsePrivateKeyPEM(kb)
			if err != nil {
				return err
			}
			key, ok := k.(ed25519.PrivateKey)
			if !ok {
				return errors.New("signer key must be Ed25519 (make one with `confide enclave keygen`)")
			}
			manifest, err := os.ReadFile(manifestFile)
			if err != nil {
				return err
			}
			exeHash, err := hashFile(exeFile)
			if err != nil {
				return err
			}
			im, err := sim.SignImage(key, exeHash, manifest, product, svn, debug)
			if err != nil {
				return err
			}
			return writeOut(cmd, out, im.Marshal())
		},
	}
	sign.Flags().StringVar(&keyFile, "key", "", "signer key (PEM PKCS#8 Ed25519)")
	sign.Flags().StringVar(&manifestFile, "manifest", "", "enclave manifest (canonical JSON)")
	sign.Flags().StringVar(&exeFile, "exe", "", "the executable to sign for (default: this confide binary)")
	sign.Flags().Uint16Var(&product, "product", 0, "product ID")
	sign.Flags().Uint16Var(&svn, "svn", 0, "security version")
	sign.Flags().BoolVar(&debug, "debug", false, "mark the image debuggable")
	sign.Flags().StringVarP(&out, "output", "o", "", "image file to write (default: standard output)")
	sign.MarkFlagRequired("key")
	sign.MarkFlagRequired("manifest")
	cmd.AddCommand(sign)

	var keyOut string
	keygen := &cobra.Command{
		Use:   "keygen",
		Short: "Make an Ed25519 enclave signer key and print its signer ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, priv, err := ed25519.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := os.WriteFile(keyOut, sim.MarshalPrivateKeyPEM(priv), 0o600); err != nil {
				return err
			}
			id := sha256.Sum256(pub)
			fmt.Fprintf(cmd.OutOrStdout(), "signer_id %x\n", id)
			return nil
		},
	}
	keygen.Flags().StringVarP(&keyOut, "output", "o", "", "key file to write")
	keygen.MarkFlagRequired("output")
	cmd.AddCommand(keygen)

	var role string
	var entry []string
	manifest := &cobra.Command{
		Use:   "manifest",
		Short: "Print a canonical manifest for a role and entry point, with its config ID on standard error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := enclave.Manifest{Version: enclave.ManifestVersion, Role: role, Entry: entry}
			b := m.Marshal()
			if _, err := enclave.ParseManifest(b); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "config_id %x\n", m.ConfigID())
			_, err := cmd.OutOrStdout().Write(b)
			return err
		},
	}
	manifest.Flags().StringVar(&role, "role", "", "role name")
	manifest.Flags().StringSliceVar(&entry, "entry", nil, "entry point arguments (comma-separated)")
	cmd.AddCommand(manifest)

	cmd.AddCommand(&cobra.Command{
		Use:   "identity",
		Short: "Print the identity the platform measured for this process",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := self.connect(cmd.Context())
			if err != nil {
				return err
			}
			defer p.Close()
			id, err := p.Identity(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "platform %s\nunique_id %s\nconfig_id %s\nsigner_id %s\nproduct_id %d\nsvn %d\ndebug %v\nrole %s\n",
				id.Platform, hex.EncodeToString(id.UniqueID), hex.EncodeToString(id.ConfigID), hex.EncodeToString(id.SignerID),
				id.ProductID, id.SVN, id.Debug, self.manifest.Role)
			return nil
		},
	})
	return cmd
}

func hashFile(path string) ([]byte, error) {
	if path == "" {
		var err error
		if path, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
