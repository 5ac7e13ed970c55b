// Command ledgerload measures committed write throughput and latency of
// a confide ledger network or an etcd cluster, closed loop: each of -c
// clients writes -size bytes and waits until the write is committed —
// for confide, covered by a committed signature (POST
// /app/transactions?wait=committed), for etcd a Put through clientv3 —
// then writes again. For confide it then fetches and verifies receipts
// of a sample of the writes, offline, against the service certificate.
//
// It is its own module so that etcd's client does not enter confide's.
//
//	ledgerload -target confide -sandbox DIR -c 16 -d 10s
//	ledgerload -target etcd -endpoints 127.0.0.1:2379,… -c 16 -d 10s
//	ledgerload -target etcd -etcd-tls DIR -label etcd-tls -endpoints … (TLS, client certificate)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/confide/confide/ledger/identity"
	"github.com/confide/confide/ledger/receipt"
)

func main() {
	target := flag.String("target", "confide", "confide or etcd")
	sandbox := flag.String("sandbox", "", "confide: the sandbox directory (nodes.json, certificates)")
	endpoints := flag.String("endpoints", "", "etcd: client endpoints, comma-separated")
	clients := flag.Int("c", 16, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "measured duration (after 1 s of warm-up)")
	size := flag.Int("size", 256, "bytes per write")
	receipts := flag.Int("receipts", 50, "confide: receipts to fetch and verify afterwards")
	tlsDir := flag.String("etcd-tls", "", "etcd: a directory with ca.pem, client.pem and client-key.pem, to speak TLS with a client certificate")
	label := flag.String("label", "", "the target's name in the output (default -target)")
	flag.Parse()

	value := strings.Repeat("x", *size)
	var write func(ctx context.Context, client, i int) (string, error)
	var after func(ids []string) (int, error)
	switch *target {
	case "confide":
		write, after = confide(*sandbox, value, *clients, *receipts)
	case "etcd":
		cfg := clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second}
		if *tlsDir != "" {
			ca, err := os.ReadFile(filepath.Join(*tlsDir, "ca.pem"))
			if err != nil {
				log.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			cert, err := tls.LoadX509KeyPair(filepath.Join(*tlsDir, "client.pem"), filepath.Join(*tlsDir, "client-key.pem"))
			if err != nil {
				log.Fatal(err)
			}
			cfg.TLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
		}
		cli, err := clientv3.New(cfg)
		if err != nil {
			log.Fatal(err)
		}
		defer cli.Close()
		write = func(ctx context.Context, client, i int) (string, error) {
			_, err := cli.Put(ctx, fmt.Sprintf("k/%d/%d", client, i), value)
			return "", err
		}
	default:
		log.Fatalf("-target %q: confide or etcd", *target)
	}

	var mu sync.Mutex
	var lat []time.Duration
	var ids []string
	errs := 0
	start := time.Now()
	warm := start.Add(time.Second)
	end := warm.Add(*dur)
	ctx := context.Background()
	var wg sync.WaitGroup
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				id, err := write(ctx, c, i)
				d := time.Since(t0)
				mu.Lock()
				switch {
				case err != nil:
					errs++
				case t0.After(warm) && time.Now().Before(end):
					lat = append(lat, d)
					if id != "" {
						ids = append(ids, id)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	name := *target
	if *label != "" {
		name = *label
	}
	res := map[string]any{"target": name, "clients": *clients, "size": *size, "seconds": dur.Seconds(),
		"ops": len(lat), "per_second": float64(len(lat)) / dur.Seconds(), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "errors": errs}
	if after != nil {
		n, err := after(ids)
		if err != nil {
			log.Fatalf("receipts: %v", err)
		}
		res["receipts_verified"] = n
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// confide writes through the network's nodes, a client to a node in
// turn (backups forward to the primary, as a deployment's load balancer
// would spread clients).
func confide(dir, value string, clients, sample int) (func(context.Context, int, int) (string, error), func([]string) (int, error)) {
	svcPEM, err := os.ReadFile(filepath.Join(dir, "service_cert.pem"))
	if err != nil {
		log.Fatal(err)
	}
	svc, err := identity.ParseCert(svcPEM)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(svc)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "user0_cert.pem"), filepath.Join(dir, "user0_privk.pem"))
	if err != nil {
		log.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		MaxIdleConnsPerHost: clients, ForceAttemptHTTP2: false}}
	var nodes []struct {
		RPC string `json:"rpc_address"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "nodes.json"))
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, &nodes); err != nil {
		log.Fatal(err)
	}
	// Clients talk to the primary, as etcd's client talks to its
	// leader; forwarding would add a hop etcd does not pay.
	primary := ""
	for _, n := range nodes {
		resp, err := hc.Get("https://" + n.RPC + "/node/state")
		if err != nil {
			continue
		}
		var st struct {
			Primary bool `json:"primary"`
		}
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.Primary {
			primary = n.RPC
		}
	}
	if primary == "" {
		log.Fatal("no primary")
	}
	body := `{"contents":"` + value + `"}`
	write := func(ctx context.Context, _, _ int) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+primary+"/app/transactions?wait=committed", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return resp.Header.Get("X-Ms-Ccf-Transaction-Id"), nil
	}
	after := func(ids []string) (int, error) {
		n := 0
		for i := 0; i < len(ids) && n < sample; i += max(1, len(ids)/sample) {
			resp, err := hc.Get("https://" + primary + "/app/transactions/" + ids[i] + "/receipt")
			if err != nil {
				return n, err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var w struct {
				Receipt json.RawMessage `json:"receipt"`
			}
			if resp.StatusCode != 200 || json.Unmarshal(b, &w) != nil {
				return n, fmt.Errorf("%s: %d %s", ids[i], resp.StatusCode, b)
			}
			r, err := receipt.Parse(w.Receipt)
			if err != nil {
				return n, err
			}
			if err := r.Verify(svc); err != nil {
				return n, fmt.Errorf("%s: %v", ids[i], err)
			}
			n++
		}
		return n, nil
	}
	return write, after
}
