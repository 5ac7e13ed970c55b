package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/spf13/cobra"

	"github.com/confide/confide/ledger/eth"
	"github.com/confide/confide/ledger/eth/proxy"
	"github.com/confide/confide/ledger/sandbox"
)

func newEthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eth",
		Short: "Use the ledger's Ethereum app (JSON-RPC for wallets and tools)",
	}
	var o ethProxyOpts
	proxyCmd := &cobra.Command{
		Use:   "proxy",
		Short: "Serve the ledger's Ethereum JSON-RPC on loopback as plain HTTP, for tools without client certificates",
		Long: `proxy listens on a loopback address only (whoever reaches it acts as the
user) and forwards each JSON-RPC request, and WebSocket, to a ledger node over
the ledger's TLS with the user's certificate, trying the next node when one does
not answer. Name a 'confide ledger sandbox' directory (--dir, with --user,
default user0), or --cert, --key, --service-cert and --node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.start(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "eth proxy: %s (as %s)\n", p.url, o.who())
			<-cmd.Context().Done()
			p.stop()
			return nil
		},
	}
	f := proxyCmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8545", "loopback address to serve JSON-RPC on")
	f.StringVar(&o.dir, "dir", "", "a 'confide ledger sandbox' directory")
	f.StringVar(&o.user, "user", "user0", "the sandbox user to act as")
	f.StringVar(&o.cert, "cert", "", "the user's certificate (PEM)")
	f.StringVar(&o.key, "key", "", "the user's private key (PEM)")
	f.StringVar(&o.serviceCert, "service-cert", "", "the service certificate (PEM)")
	f.StringSliceVar(&o.nodes, "node", nil, "a node's RPC address, host:port (repeatable)")
	var rpcURL, keyFile string
	linkCmd := &cobra.Command{
		Use:   "link",
		Short: "Link an Ethereum address to your ledger user (the private mode lets only you send from it and read what is its)",
		Long: `link signs, with the address's private key (--key-file: a file holding the
hex key), the EIP-191 message naming the address, your ledger user ID and the
chain, and sends it with confide_linkAddress through --rpc (a 'confide eth
proxy', which acts as your user). The key never leaves this process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			key, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x"))
			clear(b)
			if err != nil {
				return fmt.Errorf("eth link: %s does not hold a hex secp256k1 key", keyFile)
			}
			c, err := rpc.DialContext(cmd.Context(), rpcURL)
			if err != nil {
				return err
			}
			defer c.Close()
			var user string
			var chain hexutil.Uint64
			if err := c.CallContext(cmd.Context(), &user, "confide_userId"); err != nil {
				return fmt.Errorf("eth link: %w", err)
			}
			if err := c.CallContext(cmd.Context(), &chain, "eth_chainId"); err != nil {
				return fmt.Errorf("eth link: %w", err)
			}
			addr := crypto.PubkeyToAddress(key.PublicKey)
			sig, err := crypto.Sign(accounts.TextHash([]byte(eth.LinkMessage(addr, user, uint64(chain)))), key)
			if err != nil {
				return err
			}
			var ok bool
			if err := c.CallContext(cmd.Context(), &ok, "confide_linkAddress", addr, hexutil.Encode(sig)); err != nil {
				return fmt.Errorf("eth link: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "linked %s to ledger user %s\n", addr.Hex(), user)
			return nil
		},
	}
	linkCmd.Flags().StringVar(&rpcURL, "rpc", "http://127.0.0.1:8545", "the JSON-RPC URL (a confide eth proxy)")
	linkCmd.Flags().StringVar(&keyFile, "key-file", "", "a file holding the address's private key (hex)")
	linkCmd.MarkFlagRequired("key-file")
	cmd.AddCommand(proxyCmd, linkCmd)
	return cmd
}

type ethProxyOpts struct {
	listen, dir, user, cert, key, serviceCert string
	nodes                                     []string
}

func (o *ethProxyOpts) who() string {
	if o.cert != "" {
		return o.cert
	}
	return o.user
}

type runningProxy struct {
	url  string
	srv  *http.Server
	stop func()
}

// start serves the proxy until stop.
func (o *ethProxyOpts) start(ctx context.Context) (*runningProxy, error) {
	cert, key, svc := o.cert, o.key, o.serviceCert
	nodes := func() []string { return o.nodes }
	if o.dir != "" {
		pick := func(v *string, name string) {
			if *v == "" {
				*v = filepath.Join(o.dir, name)
			}
		}
		pick(&cert, o.user+"_cert.pem")
		pick(&key, o.user+"_privk.pem")
		pick(&svc, sandbox.ServiceCert)
		if len(o.nodes) == 0 {
			nodes = func() []string {
				b, _ := os.ReadFile(filepath.Join(o.dir, sandbox.NodesFile))
				var ns []sandbox.NodeInfo
				json.Unmarshal(b, &ns)
				var out []string
				for _, n := range ns {
					out = append(out, n.RPCAddress)
				}
				return out
			}
		}
	}
	if cert == "" || key == "" || svc == "" || len(nodes()) == 0 {
		return nil, errors.New("eth proxy: name --dir (a sandbox), or --cert, --key, --service-cert and --node")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("eth proxy: %w", err)
	}
	svcCert, err := readCert(svc)
	if err != nil {
		return nil, err
	}
	p, err := proxy.New(proxy.Options{Nodes: nodes, Cert: pair, Service: svcCert})
	if err != nil {
		return nil, err
	}
	ln, err := proxy.Listen(o.listen)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &runningProxy{url: proxy.URL(ln), srv: srv, stop: func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}}, nil
}

// EthInfoFile is what a sandbox with --eth writes for tools.
const EthInfoFile = "eth.json"

type ethInfo struct {
	RPCURL   string               `json:"rpc_url"`
	ChainID  uint64               `json:"chain_id"`
	Mode     string               `json:"mode"`
	Accounts []sandbox.EthAccount `json:"accounts"`
}

// startSandboxEth starts a proxy for user0 of a sandbox with the
// Ethereum app and writes DIR/eth.json.
// nodes, if given, are the nodes' addresses (else nodes.json's).
func startSandboxEth(ctx context.Context, dir, listen string, mode string, nodes ...string) (*runningProxy, *ethInfo, error) {
	o := &ethProxyOpts{listen: listen, dir: dir, user: "user0", nodes: nodes}
	p, err := o.start(ctx)
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, sandbox.EthAccountsFile))
	if err != nil {
		p.stop()
		return nil, nil, err
	}
	info := &ethInfo{RPCURL: p.url, ChainID: eth.DefaultChainID, Mode: mode}
	if err := json.Unmarshal(b, &info.Accounts); err != nil {
		p.stop()
		return nil, nil, err
	}
	out, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, EthInfoFile), out, 0o600); err != nil {
		p.stop()
		return nil, nil, err
	}
	return p, info, nil
}
