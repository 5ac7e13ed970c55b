package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sgx"
	"github.com/confide/confide/enclave/sim"
	"github.com/confide/confide/enclave/snp"
	"github.com/confide/confide/enclave/tdx"
)

// launched is what this process was launched as.
type launched struct {
	manifest enclave.Manifest
	raw      []byte // the manifest's bytes: their hash must be our config ID
}

func launchManifest() (*launched, error) {
	path := os.Getenv(sim.EnvEnclave)
	if path == "" {
		return &launched{manifest: enclave.CLIManifest, raw: enclave.CLIManifest.Marshal()}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading enclave image: %w", err)
	}
	im, err := sim.ParseImage(b)
	if err != nil {
		return nil, err
	}
	m, err := enclave.ParseManifest(im.Manifest)
	if err != nil {
		return nil, err
	}
	return &launched{manifest: m, raw: im.Manifest}, nil
}

// home returns $CONFIDE_HOME, created with mode 0700.
func home() (string, error) {
	h := os.Getenv("CONFIDE_HOME")
	if h == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no $CONFIDE_HOME and no home directory: %w", err)
		}
		h = filepath.Join(u, ".confide")
	}
	if err := os.MkdirAll(h, 0o700); err != nil {
		return "", err
	}
	return h, os.Chmod(h, 0o700)
}

func platformDir() (string, error) {
	h, err := home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, "platform"), nil
}

// platform is what the CLI and services use of their TEE.
type platform interface {
	enclave.Platform
	Close() error
}

// hardware wraps a hardware attester, which holds no connection.
type hardware struct{ enclave.Platform }

func (hardware) Close() error { return nil }

// sealingHardware keeps the optional sealing capability visible through
// the wrapper.
type sealingHardware struct {
	hardware
	enclave.SealKeyer
}

// connect returns this process's platform — the one CONFIDE_PLATFORM names
// (sim by default, starting the simulated platform if none runs) — and
// checks that it measured the manifest this process is running: an image
// swapped between our start and the platform's measurement, or a VM
// launched with other host data, must not lend us another identity.
func (l *launched) connect(ctx context.Context) (platform, error) {
	var p platform
	switch name := os.Getenv("CONFIDE_PLATFORM"); name {
	case "", enclave.PlatformSim:
		dir, err := platformDir()
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(dir, sim.RootCertFile)); errors.Is(err, os.ErrNotExist) {
			return nil, sim.ErrNotInitialized
		}
		c, err := sim.Dial(ctx, dir, func() error { return spawnPlatform(dir) })
		if err != nil {
			return nil, err
		}
		p = c
	case enclave.PlatformSNP:
		a, err := snp.NewAttester()
		if err != nil {
			return nil, err
		}
		p = sealingHardware{hardware{a}, a}
	case enclave.PlatformTDX:
		p = hardware{tdx.NewAttester(tdx.AttesterConfig{})}
	case enclave.PlatformSGX:
		// Under Gramine-SGX (docs/sgx.md): evidence and seal keys through
		// /dev/attestation; under EGo, through its runtime.
		var rt sgx.Runtime
		switch r := os.Getenv("CONFIDE_SGX_RUNTIME"); r {
		case "", "gramine":
			rt = &sgx.Gramine{}
		case "ego":
			rt = &sgx.EGo{}
		default:
			return nil, fmt.Errorf("CONFIDE_SGX_RUNTIME=%q: want gramine or ego", r)
		}
		a := sgx.NewAttester(sgx.AttesterConfig{Runtime: rt})
		p = sealingHardware{hardware{a}, a}
	default:
		return nil, fmt.Errorf("CONFIDE_PLATFORM=%q: want sim, snp, tdx or sgx", name)
	}
	id, err := p.Identity(ctx)
	if err != nil {
		p.Close()
		return nil, err
	}
	// On SGX no report field carries the manifest's hash (unless the host
	// sets the KSS CONFIGID to it): Gramine measures the manifest into
	// MRENCLAVE as a trusted file, and refuses to read it changed.
	sgxMeasured := id.Platform == enclave.PlatformSGX && bytes.Count(id.ConfigID, []byte{0}) == len(id.ConfigID)
	if !sgxMeasured && !configMatches(id.ConfigID, l.raw) {
		p.Close()
		return nil, errors.New("the platform measured another manifest than the one this process runs; refusing to continue")
	}
	return p, nil
}

// configMatches reports whether a measured config ID is the SHA-256 of
// the manifest, zero-padded where the hardware field is longer (TDX's
// 48-byte MRCONFIGID).
func configMatches(configID, manifest []byte) bool {
	want := sha256.Sum256(manifest)
	if len(configID) < len(want) || !bytes.Equal(configID[:len(want)], want[:]) {
		return false
	}
	return bytes.Count(configID[len(want):], []byte{0}) == len(configID)-len(want)
}

// spawnPlatform starts `confide platform serve` detached from our standard
// streams and session, exiting when idle, as gpg-agent is started.
func spawnPlatform(dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "platform.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	idle := os.Getenv("CONFIDE_PLATFORM_IDLE")
	if idle == "" {
		idle = "10m"
	}
	cmd := exec.Command(exe, "platform", "serve", "--idle", idle)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = withoutEnclave(os.Environ())
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func withoutEnclave(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, sim.EnvEnclave+"=")
	})
}
