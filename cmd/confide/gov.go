package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/attest/atls"
	"github.com/confide/confide/ledger/gov"
	"github.com/confide/confide/ledger/identity"
)

// govCmd is `confide ledger gov`: a member's requests to the governance
// endpoints (spec/ledger-governance.md §4), each signed with the
// member's key as a COSE_Sign1 message.
func govCmd() *cobra.Command {
	var o govOpts
	cmd := &cobra.Command{
		Use:   "gov",
		Short: "Member governance: propose, vote, withdraw, acknowledge, list and show proposals",
		Long: `gov sends a member's signed requests to a ledger node. Name the member's
certificate and key (--cert, --key), the service certificate (--service-cert)
and a node (--node host:port); or --sandbox DIR --member NAME, which takes
them from a 'confide ledger sandbox' directory (the first node of nodes.json).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.sandbox, "sandbox", "", "a sandbox directory to take the files and the node from")
	pf.StringVar(&o.member, "member", "member0", "with --sandbox: the member's name")
	pf.StringVar(&o.cert, "cert", "", "the member's certificate (PEM)")
	pf.StringVar(&o.key, "key", "", "the member's private key (PEM)")
	pf.StringVar(&o.serviceCert, "service-cert", "", "the service certificate (PEM)")
	pf.StringVar(&o.node, "node", "", "a node's RPC address, host:port")
	pf.StringVar(&o.policy, "policy", "", "an attestation policy (JSON) the server's evidence must meet, instead of the service certificate (a recovering service: confide ledger recover)")

	propose := &cobra.Command{
		Use:   "propose FILE",
		Short: "Submit a proposal: FILE (or - for standard input) holds {\"actions\": [...]}",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := readArg(cmd, args[0])
			if err != nil {
				return err
			}
			return o.send(cmd, gov.TypeProposal, "", "/gov/members/proposals:create", body)
		},
	}
	var yes, no bool
	var ballotFile string
	vote := &cobra.Command{
		Use:   "vote PROPOSAL_ID (--yes | --no | --ballot FILE)",
		Short: "Vote on a proposal: yes, no, or a ballot program vote(proposal, proposerId)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var js string
			switch {
			case yes && !no && ballotFile == "":
				js = "export function vote(proposal, proposerId) { return true }"
			case no && !yes && ballotFile == "":
				js = "export function vote(proposal, proposerId) { return false }"
			case ballotFile != "" && !yes && !no:
				b, err := readArg(cmd, ballotFile)
				if err != nil {
					return err
				}
				js = string(b)
			default:
				return fmt.Errorf("gov vote: one of --yes, --no or --ballot FILE")
			}
			body, _ := json.Marshal(map[string]string{"ballot": js})
			c, err := o.load()
			if err != nil {
				return err
			}
			return o.sendWith(cmd, c, gov.TypeBallot, args[0], "/gov/members/proposals/"+args[0]+"/ballots/"+gov.MemberID(c.cert)+":submit", body)
		},
	}
	vote.Flags().BoolVar(&yes, "yes", false, "vote for it")
	vote.Flags().BoolVar(&no, "no", false, "vote against it")
	vote.Flags().StringVar(&ballotFile, "ballot", "", "a ballot program (JavaScript) in FILE, or - for standard input")
	withdraw := &cobra.Command{
		Use:   "withdraw PROPOSAL_ID",
		Short: "Withdraw one of your open proposals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.send(cmd, gov.TypeWithdrawal, args[0], "/gov/members/proposals/"+args[0]+":withdraw", nil)
		},
	}
	ack := &cobra.Command{
		Use:   "ack",
		Short: "Acknowledge your membership (a member set by proposal counts once it does)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.load()
			if err != nil {
				return err
			}
			return o.sendWith(cmd, c, gov.TypeAck, "", "/gov/members/state-digests/"+gov.MemberID(c.cert)+":ack", nil)
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the proposals and their states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.get(cmd, "/gov/members/proposals")
		},
	}
	show := &cobra.Command{
		Use:   "show PROPOSAL_ID | members | constitution | service",
		Short: "Show a proposal, the members, the constitution or the service's state",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "members":
				return o.get(cmd, "/gov/members")
			case "constitution":
				return o.get(cmd, "/gov/service/constitution")
			case "service":
				return o.get(cmd, "/gov/service/info")
			}
			return o.get(cmd, "/gov/members/proposals/"+args[0])
		},
	}
	var encKey string
	var submit bool
	share := &cobra.Command{
		Use:   "share",
		Short: "Fetch your encrypted recovery share and decrypt it with your encryption key (prints it, base64)",
		Long: `share fetches the member's recovery share, encrypted to the member's
encryption key (RSA-OAEP-SHA-256), and decrypts it with the private key in
--enc-key (with --sandbox: MEMBER_enc_privk.pem). k members' shares together
unwrap the ledger secret (spec/ledger-governance.md §5); handing them to a
recovering network comes with disaster recovery.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.load()
			if err != nil {
				return err
			}
			if encKey == "" && o.sandbox != "" {
				encKey = filepath.Join(o.sandbox, o.member+"_enc_privk.pem")
			}
			if encKey == "" {
				return fmt.Errorf("gov share: --enc-key FILE")
			}
			b, err := os.ReadFile(encKey)
			if err != nil {
				return err
			}
			blk, _ := pem.Decode(b)
			if blk == nil {
				return fmt.Errorf("gov share: %s is not PEM", encKey)
			}
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			priv, ok := k.(*rsa.PrivateKey)
			if err != nil || !ok {
				return fmt.Errorf("gov share: %s holds no RSA private key", encKey)
			}
			resp, err := c.http.Get("https://" + c.node + "/gov/recovery/encrypted-shares/" + gov.MemberID(c.cert))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var out struct {
				Share string `json:"encryptedShare"`
			}
			if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out) != nil {
				return fmt.Errorf("gov share: the node has no share for this member (%s)", resp.Status)
			}
			plain, err := gov.DecryptShare(priv, out.Share)
			if err != nil {
				return err
			}
			if !submit {
				_, err = fmt.Fprintln(cmd.OutOrStdout(), base64.StdEncoding.EncodeToString(plain))
				return err
			}
			if o.policy == "" {
				clear(plain)
				return fmt.Errorf("gov share --submit: shares go only to a recovery service that attests itself: name its --policy")
			}
			// To a recovering service: the share, signed, over TLS to it.
			body, _ := json.Marshal(map[string]string{"share": base64.StdEncoding.EncodeToString(plain)})
			clear(plain)
			raw, err := gov.Sign(c.key, c.cert, gov.TypeShare, "", time.Now(), body)
			if err != nil {
				return err
			}
			resp, err = c.http.Post("https://"+c.node+"/gov/recovery/members/"+gov.MemberID(c.cert)+":recover", "application/cose", bytes.NewReader(raw))
			if err != nil {
				return err
			}
			return printAnswer(cmd, resp)
		},
	}
	share.Flags().StringVar(&encKey, "enc-key", "", "the member's encryption private key (PEM, PKCS #8)")
	share.Flags().BoolVar(&submit, "submit", false, "submit the decrypted share to a recovering service (confide ledger recover) instead of printing it")
	cmd.AddCommand(propose, vote, withdraw, ack, list, show, share)
	return cmd
}

type govOpts struct {
	sandbox, member, cert, key, serviceCert, node, policy string
}

type govClient struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	http *http.Client
	node string
}

// load reads the member's files and makes the HTTPS client.
func (o *govOpts) load() (*govClient, error) {
	certFile, keyFile, svcFile, node := o.cert, o.key, o.serviceCert, o.node
	if o.sandbox != "" {
		pick := func(v *string, name string) {
			if *v == "" {
				*v = filepath.Join(o.sandbox, name)
			}
		}
		pick(&certFile, o.member+"_cert.pem")
		pick(&keyFile, o.member+"_privk.pem")
		pick(&svcFile, "service_cert.pem")
		if node == "" {
			b, err := os.ReadFile(filepath.Join(o.sandbox, "nodes.json"))
			if err != nil {
				return nil, fmt.Errorf("gov: %w", err)
			}
			var nodes []struct {
				RPC string `json:"rpc_address"`
			}
			if err := json.Unmarshal(b, &nodes); err != nil || len(nodes) == 0 {
				return nil, fmt.Errorf("gov: %s lists no nodes", filepath.Join(o.sandbox, "nodes.json"))
			}
			node = nodes[0].RPC
		}
	}
	if certFile == "" || keyFile == "" || (svcFile == "" && o.policy == "") || node == "" {
		return nil, fmt.Errorf("gov: name --cert, --key, --service-cert (or --policy) and --node, or --sandbox DIR")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := identity.ParseCert(certPEM)
	if err != nil {
		return nil, fmt.Errorf("gov: %s: %w", certFile, err)
	}
	key, err := identity.ParseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("gov: %s: %w", keyFile, err)
	}
	var tc *tls.Config
	if o.policy != "" {
		// The server proves what code it runs (attested TLS).
		pb, err := os.ReadFile(o.policy)
		if err != nil {
			return nil, err
		}
		pol, err := attest.ParsePolicy(pb)
		if err != nil {
			return nil, fmt.Errorf("gov: %s: %w", o.policy, err)
		}
		v, err := newVerifier("", hardwareOptions{})
		if err != nil {
			return nil, err
		}
		if tc, err = (&atls.Config{Verifier: v, Policy: pol}).ClientConfig(); err != nil {
			return nil, err
		}
	} else {
		svcPEM, err := os.ReadFile(svcFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(svcPEM) {
			return nil, fmt.Errorf("gov: %s holds no certificate", svcFile)
		}
		tc = &tls.Config{RootCAs: pool}
	}
	tc.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
	return &govClient{cert: cert, key: key, node: strings.TrimPrefix(node, "https://"),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

func (o *govOpts) send(cmd *cobra.Command, typ, proposal, path string, body []byte) error {
	c, err := o.load()
	if err != nil {
		return err
	}
	return o.sendWith(cmd, c, typ, proposal, path, body)
}

func (o *govOpts) sendWith(cmd *cobra.Command, c *govClient, typ, proposal, path string, body []byte) error {
	raw, err := gov.Sign(c.key, c.cert, typ, proposal, time.Now(), body)
	if err != nil {
		return err
	}
	// Answered once a committed signature covers the request.
	resp, err := c.http.Post("https://"+c.node+path+"?wait=committed", "application/cose", bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return printAnswer(cmd, resp)
}

func (o *govOpts) get(cmd *cobra.Command, path string) error {
	c, err := o.load()
	if err != nil {
		return err
	}
	resp, err := c.http.Get("https://" + c.node + path)
	if err != nil {
		return err
	}
	return printAnswer(cmd, resp)
}

// printAnswer prints a governance answer, indented JSON when it is JSON;
// an error status is the command's error.
func printAnswer(cmd *cobra.Command, resp *http.Response) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		b = append(pretty.Bytes(), '\n')
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("gov: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}

// readArg reads FILE, or standard input for "-".
func readArg(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(name)
}
