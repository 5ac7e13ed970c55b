// Package ethdemo is "Coco Ethereum versus Ethereum", the demonstration
// the Coco Framework's paper showed: the same ERC-20 workload
// (package ethload: deploy a token, give each of M accounts tokens, then
// a closed loop of N transfers among them, each sender waiting for its
// receipt) against a 3-node confide ledger running the Ethereum app, and
// against go-ethereum itself — geth --dev with a block every 12 seconds
// (public Ethereum's block time) and with instant sealing (a block as
// soon as a transaction is pending, no replication: a ceiling no public
// chain reaches). It prints committed transfers/s and p50/p99 latency
// side by side and writes the chart eth.svg.
//
// geth is the release go.mod pins (GethVersion), found on PATH or built
// with `go install` (FindGeth); without it the geth runs are skipped
// with a message, not faked.
package ethdemo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/confide/confide/internal/freeport"
	"github.com/confide/confide/ledger/eth/ethload"
)

// Endpoint is a running Ethereum node to load.
type Endpoint struct {
	RPC          string
	AccountsFile string // funded accounts (confide's sandbox)
	FundFromNode bool   // fund from eth_accounts[0] (geth --dev)
	Stop         func()
}

// Options configure a run.
type Options struct {
	Dir       string // where eth.svg and results.json go
	Transfers int    // transfers against each fast target (0: 2000)
	Senders   int    // accounts, each with one transaction in flight (0: 64)
	// Geth is the geth binary ("": the geth runs are skipped).
	Geth string
	// NoGeth runs confide alone.
	NoGeth bool
	// Confide starts the 3-node ledger with the Ethereum app (or returns
	// a running one: the console's demo loads its deployment's).
	Confide func(ctx context.Context) (Endpoint, error)
	// ConfideLabel names the confide run; "" means LabelConfide.
	ConfideLabel string
	Log          io.Writer // progress (nil: none)
}

// Labels of the three runs.
const (
	LabelConfide     = "confide (3 nodes)"
	LabelGethInstant = "geth --dev (instant)"
	LabelGeth12s     = "geth --dev (12 s blocks)"
)

// Run runs the workload against each target in turn and reports.
func Run(ctx context.Context, w io.Writer, o Options) ([]ethload.Result, error) {
	if o.Transfers == 0 {
		o.Transfers = 2000
	}
	if o.Senders == 0 {
		o.Senders = 64
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	type target struct {
		label     string
		transfers int
		start     func(context.Context) (Endpoint, error)
	}
	label := o.ConfideLabel
	if label == "" {
		label = LabelConfide
	}
	targets := []target{{label, o.Transfers, o.Confide}}
	if o.Geth != "" && !o.NoGeth {
		tmp, err := os.MkdirTemp("", "confide-demo-geth-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		// At 12 s a block, a run of o.Transfers would take hours: three
		// blocks' worth (each block carries every sender's transaction).
		slow := max(o.Transfers/20, 3*o.Senders)
		targets = append(targets,
			target{LabelGethInstant, o.Transfers, func(ctx context.Context) (Endpoint, error) {
				return StartGeth(ctx, o.Geth, 0, filepath.Join(tmp, "instant"), o.Log)
			}},
			target{LabelGeth12s, slow, func(ctx context.Context) (Endpoint, error) {
				return StartGeth(ctx, o.Geth, 12, filepath.Join(tmp, "12s"), o.Log)
			}})
	} else if !o.NoGeth {
		fmt.Fprintf(w, "geth not found: the geth runs are skipped (install it: go install github.com/ethereum/go-ethereum/cmd/geth@%s)\n", GethVersion())
	}
	var results []ethload.Result
	for _, t := range targets {
		fmt.Fprintf(w, "%s: %d transfers among %d accounts…\n", t.label, t.transfers, o.Senders)
		ep, err := t.start(ctx)
		if err != nil {
			return results, fmt.Errorf("%s: %w", t.label, err)
		}
		r, err := ethload.Run(ctx, ethload.Config{RPC: ep.RPC, AccountsFile: ep.AccountsFile, FundFromNode: ep.FundFromNode,
			Senders: o.Senders, Inflight: o.Senders, Transfers: t.transfers, Label: t.label,
			Out: o.Log, Log: log.New(o.Log, "  ", 0)})
		ep.Stop()
		if err != nil {
			return results, fmt.Errorf("%s: %w", t.label, err)
		}
		if !r.Verified {
			return results, fmt.Errorf("%s: verification failed: %s", t.label, r.Why)
		}
		results = append(results, r)
	}
	Table(w, results)
	b, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Dir, "results.json"), b, 0o644); err != nil {
		return results, err
	}
	chart := filepath.Join(o.Dir, "eth.svg")
	if err := Chart(chart, results); err != nil {
		return results, err
	}
	fmt.Fprintf(w, "\nchart: %s\n", chart)
	return results, nil
}

// Table prints the results side by side, with ratios to the first.
func Table(w io.Writer, rs []ethload.Result) {
	fmt.Fprintf(w, "\n%-26s %10s %14s %10s %10s %10s %s\n", "", "transfers", "transfers/s", "p50 ms", "p99 ms", "vs first", "verified")
	for _, r := range rs {
		ratio := "-"
		if rs[0].TPS > 0 {
			ratio = fmt.Sprintf("%.2fx", r.TPS/rs[0].TPS)
		}
		fmt.Fprintf(w, "%-26s %10d %14.1f %10.1f %10.1f %10s %v\n", r.Label, r.Transfers, r.TPS, r.P50ms, r.P99ms, ratio, r.Verified)
	}
	for _, r := range rs[1:] {
		if r.TPS > 0 {
			fmt.Fprintf(w, "%s commits %.2f× the transfers/s of %s\n", rs[0].Label, rs[0].TPS/r.TPS, r.Label)
		}
	}
}

// Chart writes transfers/s and p50/p99 latency per run: SVG, or PNG if
// path ends in .png.
func Chart(path string, rs []ethload.Result) error {
	names := make([]string, len(rs))
	tps := make(plotter.Values, len(rs))
	p50 := make(plotter.Values, len(rs))
	p99 := make(plotter.Values, len(rs))
	for i, r := range rs {
		names[i] = r.Label
		tps[i], p50[i], p99[i] = r.TPS, r.P50ms, r.P99ms
	}
	bars := func(title, ylabel string, series []plotter.Values, legends []string, colors []color.Color) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.Y.Label.Text = ylabel + " (log scale)"
		p.NominalX(names...)
		// A log scale: a 12 s block time and 30 ms latencies, 5 and
		// 2,000 transfers/s, on one axis. Bars start at 1 (stacked on a
		// bar of 1 that is not drawn: log 0 has no place on the axis;
		// the labels give the values).
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		width := vg.Points(40)
		for i, vs := range series {
			ones := make(plotter.Values, len(vs))
			for j := range ones {
				ones[j] = 1
			}
			base, err := plotter.NewBarChart(ones, width)
			if err != nil {
				return nil, err
			}
			shown := make(plotter.Values, len(vs))
			for j, v := range vs {
				shown[j] = max(v-1, 0)
			}
			b, err := plotter.NewBarChart(shown, width)
			if err != nil {
				return nil, err
			}
			b.StackOn(base)
			b.Color = colors[i]
			b.LineStyle.Width = 0
			b.Offset = width * vg.Length(float64(i)-float64(len(series)-1)/2)
			p.Add(b)
			if len(legends) > 1 {
				p.Legend.Add(legends[i], b)
			}
			// The values on the bars: a 12 s block time dwarfs the rest.
			xy := make(plotter.XYs, len(vs))
			labels := make([]string, len(vs))
			for j, v := range vs {
				xy[j].X = float64(j) + float64(b.Offset/width)*0.28
				xy[j].Y = max(v, 1)
				labels[j] = strconv.FormatFloat(v, 'f', 1, 64)
			}
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xy, Labels: labels})
			if err != nil {
				return nil, err
			}
			p.Add(l)
		}
		p.Y.Min = 1
		p.Y.Max *= 2 // room for the labels
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.XOffs = vg.Points(10)
		return p, nil
	}
	blue, orange, red := color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	pt, err := bars("Committed ERC-20 transfers per second", "transfers/s", []plotter.Values{tps}, nil, []color.Color{blue})
	if err != nil {
		return err
	}
	pl, err := bars("Latency, send to receipt", "ms", []plotter.Values{p50, p99}, []string{"p50", "p99"}, []color.Color{orange, red})
	if err != nil {
		return err
	}
	var img vg.CanvasWriterTo = vgsvg.New(vg.Points(1000), vg.Points(380))
	if strings.HasSuffix(path, ".png") {
		img = vgimg.PngCanvas{Canvas: vgimg.New(vg.Points(1000), vg.Points(380))}
	}
	dc := draw.New(img)
	t := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20), PadTop: vg.Points(10), PadBottom: vg.Points(10), PadLeft: vg.Points(10), PadRight: vg.Points(10)}
	cs := plot.Align([][]*plot.Plot{{pt, pl}}, t, dc)
	pt.Draw(cs[0][0])
	pl.Draw(cs[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// GethVersion is the go-ethereum release this binary is built with.
func GethVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/ethereum/go-ethereum" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// FindGeth returns a geth of GethVersion: on PATH, in dir, or built into
// dir with `go install` when go is installed; "" if none can be had.
func FindGeth(dir string, log io.Writer) string {
	want := strings.TrimPrefix(GethVersion(), "v")
	ok := func(p string) bool {
		out, err := exec.Command(p, "version").Output()
		return err == nil && strings.Contains(string(out), "Version: "+want+"-")
	}
	if p, err := exec.LookPath("geth"); err == nil && ok(p) {
		return p
	}
	p := filepath.Join(dir, "geth")
	if ok(p) {
		return p
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	fmt.Fprintf(log, "building geth %s into %s (a few minutes)…\n", GethVersion(), dir)
	cmd := exec.Command(gobin, "install", "github.com/ethereum/go-ethereum/cmd/geth@"+GethVersion())
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	if cmd.Run() != nil || !ok(p) {
		return ""
	}
	return p
}

// StartGeth runs geth --dev (a block every period seconds; 0: as soon
// as a transaction is pending) on a fresh datadir, HTTP JSON-RPC on a
// free loopback port, and waits for it to answer.
func StartGeth(ctx context.Context, geth string, period int, dir string, logw io.Writer) (Endpoint, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Endpoint{}, err
	}
	port, err := freeport.Port()
	if err != nil {
		return Endpoint{}, err
	}
	auth, err := freeport.Port()
	if err != nil {
		return Endpoint{}, err
	}
	logf, err := os.Create(dir + ".log")
	if err != nil {
		return Endpoint{}, err
	}
	cmd := exec.Command(geth, "--dev", "--dev.period", strconv.Itoa(period), "--datadir", dir, "--ipcdisable",
		"--http", "--http.addr", "127.0.0.1", "--http.port", strconv.Itoa(port), "--http.api", "eth,net,web3",
		"--authrpc.port", strconv.Itoa(auth), "--port", "0", "--nodiscover", "--maxpeers", "0", "--verbosity", "2")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return Endpoint{}, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if Up(url) {
			return Endpoint{RPC: url, FundFromNode: true, Stop: stop}, nil
		}
		select {
		case <-done:
			b, _ := os.ReadFile(dir + ".log")
			return Endpoint{}, fmt.Errorf("geth exited: %s", tail(string(b), 1000))
		case <-ctx.Done():
			stop()
			return Endpoint{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return Endpoint{}, errors.New("geth did not answer within 30 s")
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Up reports whether an Ethereum JSON-RPC endpoint answers eth_chainId.
func Up(url string) bool {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}`))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var out struct {
		Result string `json:"result"`
	}
	return json.NewDecoder(resp.Body).Decode(&out) == nil && out.Result != ""
}
