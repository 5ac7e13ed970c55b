package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/internal/auth"
	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/sandbox"
)

func newDevCmd(self *launched) *cobra.Command {
	var attestAddr, kmsAddr, mlAddr, sqlAddr, ledgerAddr, ethAddr, consoleAddr string
	var ethPrivate bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run every confide service locally on the SIMULATED TEE, printing where each listens",
		Long: `dev initialises the simulated platform if needed and runs every confide
service locally — the platform, the attestation service and the key broker,
each service as its own enclave with a dev-signed image — printing what it
started and where. Everything runs on the SIMULATED TEE: evidence is marked
platform=sim and debug=true, and production policies reject it. Ctrl-C stops
everything.`,
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
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			ready := make(chan struct{})
			platErr := make(chan error, 1)
			go func() { platErr <- servePlatform(cmd, dir, 0, func() { close(ready) }) }()
			note := ""
			select {
			case <-ready:
			case err := <-platErr:
				if !errors.Is(err, sim.ErrPlatformRunning) {
					return err
				}
				// One started on demand by an earlier command: use it.
				note, platErr = ", already running", nil
			}
			fmt.Fprintf(out, "platform   unix://%s  (simulated TEE%s; trust root %s)\n",
				filepath.Join(dir, sim.SocketFile), note, filepath.Join(dir, sim.RootCertFile))
			svcs, err := startDevServices(ctx, out, dir, attestAddr, kmsAddr, mlAddr)
			defer svcs.stop()
			if err != nil {
				return err
			}
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the context, the logger and the addresses passed beside it; the key only seals and unseals the node's secrets, nothing of it is written or printed
			sqlAt, stopSQL, err := startDevSQL(ctx, self, sqlAddr)
			if err != nil {
				return err
			}
			defer func() { cancel(); stopSQL() }()
			fmt.Fprintf(out, "sql        postgres://confide@%s/confide?sslmode=disable  (Always Encrypted SQL; keys stay with clients; SQL enclave on the simulated TEE)\n", sqlAt)
			ledgerDir := filepath.Join(filepath.Dir(dir), "dev", "ledger")
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the context, the logger and the addresses passed beside it; the key only seals and unseals the node's secrets, nothing of it is written or printed
			led, err := startDevLedger(ctx, self, ledgerDir, ledgerAddr, ethPrivate)
			if err != nil {
				return err
			}
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the node it started; stopping the node flushes ledger frames, which never hold the sealing key
			defer led.Stop()
			//confide:ignore false positive: the checker merges the node's sealer (its sealing key) with the context, the logger and the addresses passed beside it; the key only seals and unseals the node's secrets, nothing of it is written or printed
			fmt.Fprintf(out, "ledger     https://%s  (confidential ledger, 1 node on the simulated TEE; service_cert.pem, member0 and user0 identities in %s)\n", led.RPCAddr, ledgerDir)
			if _, err := os.Stat(filepath.Join(ledgerDir, sandbox.EthAccountsFile)); err == nil {
				mode := eth.Public
				if ethPrivate {
					mode = eth.Private
				}
				p, info, err := startSandboxEth(ctx, ledgerDir, ethAddr, mode, led.RPCAddr)
				if err != nil {
					return err
				}
				defer p.stop()
				fmt.Fprintf(out, "ethereum   %s  (JSON-RPC of the ledger's Ethereum app as user0, chain %d; eth.json in %s)\n", info.RPCURL, info.ChainID, ledgerDir)
				if len(info.Accounts) > 0 {
					fmt.Fprintf(out, "           funded account %s, key %s (development only)\n", info.Accounts[0].Address, info.Accounts[0].PrivateKey)
				}
			}
			// The console reads the ledger as user0 (the sandbox's
			// Contributor), the reader as user1; members sign their ballots
			// in the browser.
			//confide:ignore false positive: the checker merges the ledger node's sealer with the node address passed here; the console gets file names and a URL, no key of the node
			conURL, stopConsole, err := startDevConsole(ctx, self, consoleAddr, svcs, ledgerAccess{url: led.RPCAddr,
				serviceCert: filepath.Join(ledgerDir, sandbox.ServiceCert),
				cert:        filepath.Join(ledgerDir, "user0_cert.pem"), key: filepath.Join(ledgerDir, "user0_privk.pem"),
				// Each dev principal reads the ledger as a sandbox user of its own.
				users: map[string]string{
					"admin":  filepath.Join(ledgerDir, "user0_cert.pem") + ":" + filepath.Join(ledgerDir, "user0_privk.pem"),
					"reader": filepath.Join(ledgerDir, "user1_cert.pem") + ":" + filepath.Join(ledgerDir, "user1_privk.pem"),
				}},
				"postgres://confide@"+sqlAt+"/confide?sslmode=disable")
			if err != nil {
				return err
			}
			defer stopConsole()
			fmt.Fprintf(out, "console    %s  (web console; sign in with the admin token in %s)\n", conURL, svcs.tokFile)
			// dev/ready tells scripts that every service answers.
			readyFile := filepath.Join(filepath.Dir(dir), "dev", "ready")
			if err := os.WriteFile(readyFile, nil, 0o600); err != nil {
				return err
			}
			defer os.Remove(readyFile)
			fmt.Fprintln(out, "ready; Ctrl-C stops")
			select {
			case <-cmd.Context().Done():
				return nil
			case err := <-platErr:
				return err
			case err := <-svcs.exited:
				return err
			}
		},
	}
	cmd.Flags().StringVar(&attestAddr, "attest-addr", "127.0.0.1:8441", "attestation service address")
	cmd.Flags().StringVar(&kmsAddr, "kms-addr", "127.0.0.1:8442", "key broker address")
	cmd.Flags().StringVar(&mlAddr, "ml-addr", "127.0.0.1:8445", "multi-party ML trainer address")
	cmd.Flags().StringVar(&sqlAddr, "sql-addr", "127.0.0.1:5433", "Always Encrypted SQL server address")
	cmd.Flags().StringVar(&ledgerAddr, "ledger-addr", "127.0.0.1:8443", "confidential ledger address")
	cmd.Flags().StringVar(&ethAddr, "eth-addr", "127.0.0.1:8545", "loopback address of the Ethereum JSON-RPC proxy")
	cmd.Flags().StringVar(&consoleAddr, "console-addr", "127.0.0.1:8440", "web console address (loopback, plain HTTP)")
	cmd.Flags().BoolVar(&ethPrivate, "private", false, "a new ledger's Ethereum app in private mode (default public, as geth --dev)")
	return cmd
}

type devServices struct {
	procs  []*exec.Cmd
	exited chan error
	// What the console needs to reach the services as their users do.
	attestURL, kmsURL, mlURL, serverPolicy, principals, tokFile string
}

func (d *devServices) stop() {
	for _, p := range d.procs {
		p.Process.Signal(syscall.SIGINT)
	}
	for _, p := range d.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
		}
	}
}

// startDevServices writes dev images (signed with the platform's dev
// signer), a principals file with an admin token, and the policies that
// pin the services' identities, then starts each service as its enclave.
func startDevServices(ctx context.Context, out io.Writer, platDir, attestAddr, kmsAddr, mlAddr string) (*devServices, error) {
	d := &devServices{exited: make(chan error, 3)}
	h, err := home()
	if err != nil {
		return d, err
	}
	devDir := filepath.Join(h, "dev")
	if err := os.MkdirAll(devDir, 0o700); err != nil {
		return d, err
	}
	keys, err := sim.Load(platDir, sim.InitOptions{})
	if err != nil {
		return d, err
	}
	exeHash, err := hashFile("")
	if err != nil {
		return d, err
	}
	exe, err := os.Executable()
	if err != nil {
		return d, err
	}
	// The admin token persists, so that the services' identities (which
	// pin its hash) and thus their sealed state survive restarts.
	tokFile := filepath.Join(devDir, "admin.token")
	tok, err := persistentToken(tokFile)
	if err != nil {
		return d, err
	}
	// A reader too (no administrator rights), so that what a role may not
	// do can be seen, in the console and the CLI.
	readerTok, err := persistentToken(filepath.Join(devDir, "reader.token"))
	if err != nil {
		return d, err
	}
	principals := filepath.Join(devDir, "principals.json")
	if err := os.WriteFile(principals, fmt.Appendf(nil, `{"version":1,"principals":[{"name":"admin","token_sha256":%q,"admin":true},{"name":"reader","token_sha256":%q}]}`+"\n",
		auth.Hash(strings.TrimSpace(string(tok))), auth.Hash(strings.TrimSpace(string(readerTok)))), 0o600); err != nil {
		return d, err
	}
	ph, _, err := fileHash(principals)
	if err != nil {
		return d, err
	}
	attestAddr, err = resolvePort(attestAddr)
	if err != nil {
		return d, err
	}
	kmsAddr, err = resolvePort(kmsAddr)
	if err != nil {
		return d, err
	}
	mlAddr, err = resolvePort(mlAddr)
	if err != nil {
		return d, err
	}
	attestURL, kmsURL := "https://"+attestAddr, "https://"+kmsAddr
	signer := sha256.Sum256(keys.DevSigner.Public().(ed25519.PublicKey))
	image := func(m enclave.Manifest) (string, string, error) {
		raw := m.Marshal()
		im, err := sim.SignImage(keys.DevSigner, exeHash, raw, 1, 1, true)
		if err != nil {
			return "", "", err
		}
		cfg := sha256.Sum256(raw)
		path := filepath.Join(devDir, m.Role+".image")
		return path, hex.EncodeToString(cfg[:]), os.WriteFile(path, im.Marshal(), 0o600)
	}
	policy := func(name string, configIDs ...string) (string, error) {
		var alts []string
		for _, c := range configIDs {
			alts = append(alts, fmt.Sprintf(`{"allOf":[{"claim":"platform","equals":"sim"},{"claim":"signer_id","equals":%q},{"claim":"config_id","equals":%q}]}`,
				hex.EncodeToString(signer[:]), c))
		}
		path := filepath.Join(devDir, name)
		return path, os.WriteFile(path, []byte(`{"version":"1.0.0","anyOf":[`+strings.Join(alts, ",")+"]}\n"), 0o600)
	}
	asImage, asCfg, err := image(enclave.Manifest{Version: enclave.ManifestVersion, Role: "attestsvc", Entry: []string{"attest", "serve"},
		Settings: map[string]string{settingPrincipals: ph}})
	if err != nil {
		return d, err
	}
	asPolicy, err := policy("attest-policy.json", asCfg)
	if err != nil {
		return d, err
	}
	aph, _, err := fileHash(asPolicy)
	if err != nil {
		return d, err
	}
	kmsImage, kmsCfg, err := image(enclave.Manifest{Version: enclave.ManifestVersion, Role: "kms", Entry: []string{"kms", "serve"},
		Settings: map[string]string{settingPrincipals: ph, settingAttest: attestURL, settingServerPolicy: aph}})
	if err != nil {
		return d, err
	}
	kmsPolicy, err := policy("kms-policy.json", kmsCfg)
	if err != nil {
		return d, err
	}
	kph, _, err := fileHash(kmsPolicy)
	if err != nil {
		return d, err
	}
	// The trainer trusts the attestation service and the key broker it
	// was built for; manifests pin the trainer by trainer-policy.json.
	mlImage, mlCfg, err := image(enclave.Manifest{Version: enclave.ManifestVersion, Role: "ml", Entry: []string{"ml", "serve"},
		Settings: map[string]string{settingAttest: attestURL, settingServerPolicy: aph, settingKMS: kmsURL, settingKMSPolicy: kph}})
	if err != nil {
		return d, err
	}
	trainerPolicy, err := policy("trainer-policy.json", mlCfg)
	if err != nil {
		return d, err
	}
	serverPolicy, err := policy("server-policy.json", asCfg, kmsCfg, mlCfg)
	if err != nil {
		return d, err
	}
	start := func(name, image string, args ...string) (string, error) {
		c := exec.Command(exe, args...)
		c.Env = append(withoutEnclave(os.Environ()), sim.EnvEnclave+"="+image)
		// If dev is killed outright, the services follow it rather than
		// keep its ports.
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		c.Stderr = os.Stderr
		stdout, err := c.StdoutPipe()
		if err != nil {
			return "", err
		}
		if err := c.Start(); err != nil {
			return "", err
		}
		d.procs = append(d.procs, c)
		// The service prints its URL once it listens.
		line := make(chan string, 1)
		go func() {
			s := bufio.NewScanner(stdout)
			for s.Scan() {
				select {
				case line <- s.Text():
				default:
				}
			}
			err := c.Wait()
			select {
			case d.exited <- fmt.Errorf("%s exited: %v", name, err):
			default:
			}
		}()
		select {
		case l := <-line:
			return l, nil
		case err := <-d.exited:
			return "", err
		case <-time.After(30 * time.Second):
			return "", fmt.Errorf("%s did not start within 30 s", name)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	asLine, err := start("attestation service", asImage, "--addr="+attestAddr, "--principals="+principals,
		"--data="+filepath.Join(devDir, "attestsvc-"+asCfg[:12]))
	if err != nil {
		return d, err
	}
	kmsLine, err := start("key broker", kmsImage, "--addr="+kmsAddr, "--principals="+principals,
		"--attest="+attestURL, "--attest-policy="+asPolicy, "--data="+filepath.Join(devDir, "kms-"+kmsCfg[:12]))
	if err != nil {
		return d, err
	}
	mlLine, err := start("trainer", mlImage, "--addr="+mlAddr, "--attest="+attestURL, "--attest-policy="+asPolicy,
		"--kms="+kmsURL, "--kms-policy="+kmsPolicy, "--data="+filepath.Join(devDir, "ml")) // host storage: nothing sealed
	if err != nil {
		return d, err
	}
	d.attestURL, d.kmsURL, d.mlURL, d.serverPolicy, d.principals, d.tokFile = attestURL, kmsURL, "https://"+mlAddr, serverPolicy, principals, tokFile
	fmt.Fprintf(out, "attest     %s  (%s)\n", strings.TrimPrefix(asLine, "attestation service "), "attestation service, attested TLS")
	fmt.Fprintf(out, "kms        %s  (%s)\n", strings.TrimPrefix(kmsLine, "key broker "), "key broker, attested TLS")
	fmt.Fprintf(out, "ml         %s  (multi-party ML trainer, attested TLS; manifests pin it with --trainer-policy %s)\n",
		strings.TrimPrefix(mlLine, "trainer "), trainerPolicy)
	fmt.Fprintf(out, "clients:   export %s=%s CONFIDE_ATTEST_URL=%s CONFIDE_KMS_URL=%s CONFIDE_ML_URL=https://%s CONFIDE_TOKEN_FILE=%s\n",
		serverPolicyEnv, serverPolicy, attestURL, kmsURL, mlAddr, tokFile)
	return d, nil
}

// persistentToken reads a bearer token from path, or makes one there.
func persistentToken(path string) ([]byte, error) {
	tok, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var t string
		if t, _, err = auth.NewToken(); err != nil {
			return nil, err
		}
		tok = []byte(t)
		err = os.WriteFile(path, tok, 0o600)
	}
	return tok, err
}

// resolvePort replaces port 0 by a free port, so that the URL is known
// before the service starts (its identity pins it).
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
