package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confide/confide/ml/dataset"
	"github.com/confide/confide/ml/encfile"
	"github.com/confide/confide/ml/gbdt"
	"github.com/confide/confide/ml/kmeans"
	"github.com/confide/confide/ml/logreg"
	"github.com/confide/confide/ml/manifest"
	"github.com/confide/confide/ml/model"
	"github.com/confide/confide/ml/obl"
	"github.com/confide/confide/ml/party"
)

func newMLCmd(self *launched) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ml",
		Short: "Machine learning: train and predict locally; multi-party training in an enclave",
		Args:  cobra.NoArgs,
	}
	var algo, dataPath, label, out string
	var oblivious bool
	var lr logreg.Params
	gb := gbdt.Defaults()
	gb.Objective = gbdt.BinaryLogistic
	var km kmeans.Params
	km.Defaults()
	train := &cobra.Command{
		Use:   "train",
		Short: "Train a model on a plaintext CSV file (header row, numeric cells)",
		Long: `train fits logistic regression (logreg: L2, L-BFGS, as scikit-learn's
LogisticRegression), gradient-boosted trees (gbdt: XGBoost's hist method) or
k-means (kmeans: k-means++, best of --n-init) and writes the model: boosted trees
as XGBoost's JSON model (XGBoost loads it), the others as spec/ml-models.md's
documents. Binary models need labels 0 and 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("%w: --out is required", errUsage)
			}
			// k-means needs no label; one named is left out of the features.
			if algo != "kmeans" && label == "" {
				return fmt.Errorf("%w: --label names the label column (%s is supervised)", errUsage, algo)
			}
			d, err := dataset.Open(dataPath, label)
			if err != nil {
				return err
			}
			var b []byte
			var summary string
			switch algo {
			case "logreg":
				trainL := logreg.Train
				if oblivious {
					trainL = obl.LogReg
				}
				m, err := trainL(d, lr)
				if err != nil {
					return err
				}
				if !m.Converged {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: L-BFGS did not converge in %d iterations (raise --max-iter)\n", m.Iterations)
				}
				b, err = json.MarshalIndent(m, "", "  ")
				if err != nil {
					return err
				}
				summary = fmt.Sprintf("logistic regression, %d features, %d iterations", len(m.Features), m.Iterations)
			case "gbdt":
				trainG := gbdt.Train
				if oblivious {
					trainG = obl.GBDT
				}
				m, err := trainG(d, gb)
				if err != nil {
					return err
				}
				if b, err = m.MarshalXGBoostJSON(); err != nil {
					return err
				}
				summary = fmt.Sprintf("%d boosted trees (%s), XGBoost JSON", gb.Rounds, gb.Objective)
			case "kmeans":
				trainK := kmeans.Train
				if oblivious {
					trainK = obl.KMeans
				}
				m, err := trainK(d, km)
				if err != nil {
					return err
				}
				if b, err = json.MarshalIndent(m, "", "  "); err != nil {
					return err
				}
				summary = fmt.Sprintf("k-means, %d clusters, inertia %.6g", len(m.Centers), m.Inertia)
			default:
				return fmt.Errorf("%w: --algo %q: want logreg, gbdt or kmeans", errUsage, algo)
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			if oblivious {
				summary += " (oblivious)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained on %d rows: %s; wrote %s\n", d.Rows(), summary, out)
			return nil
		},
	}
	f := train.Flags()
	f.StringVar(&algo, "algo", "", "logreg, gbdt or kmeans")
	f.StringVar(&dataPath, "data", "", "the training data (CSV)")
	f.StringVar(&label, "label", "", "the label column (logreg, gbdt; kmeans: a column to leave out)")
	f.StringVar(&out, "out", "", "where to write the model")
	f.Float64Var(&lr.C, "C", 1, "logreg: inverse regularisation strength")
	f.IntVar(&lr.MaxIter, "max-iter", 1000, "logreg: L-BFGS iterations at most; kmeans: Lloyd iterations per seeding")
	f.Float64Var(&lr.Tol, "tol", 1e-6, "logreg: gradient tolerance")
	f.BoolVar(&lr.Standardize, "standardize", true, "logreg: standardise features (kept in the model)")
	f.StringVar(&gb.Objective, "objective", gb.Objective, "gbdt: binary:logistic or reg:squarederror")
	f.IntVar(&gb.Rounds, "rounds", 100, "gbdt: boosting rounds")
	f.IntVar(&gb.MaxDepth, "max-depth", gb.MaxDepth, "gbdt: tree depth")
	f.Float64Var(&gb.LearningRate, "eta", gb.LearningRate, "gbdt: learning rate")
	f.Float64Var(&gb.Lambda, "lambda", gb.Lambda, "gbdt: L2 regularisation of leaf weights")
	f.Float64Var(&gb.MinChildWeight, "min-child-weight", gb.MinChildWeight, "gbdt: least hessian sum in a child")
	f.Float64Var(&gb.Gamma, "gamma", gb.Gamma, "gbdt: least loss reduction to split")
	f.IntVar(&gb.MaxBins, "max-bin", gb.MaxBins, "gbdt: histogram bins per feature")
	f.IntVar(&km.K, "k", 0, "kmeans: clusters")
	f.IntVar(&km.NInit, "n-init", km.NInit, "kmeans: seedings tried")
	f.Uint64Var(&km.Seed, "seed", 1, "kmeans: random seed")
	f.BoolVar(&oblivious, "oblivious", false, "train without memory accesses or branches that depend on the data (ml/obl): --max-iter is then the exact iteration count")
	train.MarkFlagRequired("algo")
	train.MarkFlagRequired("data")
	train.PreRun = func(cmd *cobra.Command, _ []string) {
		switch {
		case cmd.Flags().Changed("max-iter"):
			km.MaxIter = lr.MaxIter
		case oblivious:
			// Exact counts: enough for the solvers to converge on
			// typical data, without the ordinary defaults' ceilings.
			lr.MaxIter, km.MaxIter = 200, 100
		}
	}

	var modelPath, keyDir, partyName string
	var predictOblivious bool
	var job mlJob
	predict := &cobra.Command{
		Use:   "predict",
		Short: "Print one prediction per row of a CSV file: a probability (binary models), a value, or a cluster index",
		Long: `predict scores each row of --data with a model: a model file (--model), or a
model that stays inside the trainer's enclave (--server, --manifest, --party):
the rows go to the trainer signed by the party, and the predictions come back
sealed to the party's output key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				if partyName == "" {
					return fmt.Errorf("%w: --model, or --party with --server and --manifest", errUsage)
				}
				return predictRemote(cmd, &job, keyDir, partyName, dataPath)
			}
			b, err := os.ReadFile(modelPath)
			if err != nil {
				return err
			}
			m, err := model.Read(b)
			if err != nil {
				return fmt.Errorf("%s: %w", modelPath, err)
			}
			d, err := dataset.Open(dataPath, "")
			if err != nil {
				return err
			}
			predictFn := m.Predict
			if predictOblivious {
				predictFn = m.PredictOblivious
			}
			ps, err := predictFn(d)
			if err != nil {
				return fmt.Errorf("%s: %w", dataPath, err)
			}
			printPredictions(cmd, ps, m.Kind == model.KMeans)
			return nil
		},
	}
	predict.Flags().StringVar(&modelPath, "model", "", "the model file")
	predict.Flags().StringVar(&dataPath, "data", "", "the rows (CSV with a header; columns matched by name)")
	job.flags(predict)
	predict.Flags().StringVar(&keyDir, "dir", ".", "directory of the party's key files (with --server)")
	predict.Flags().StringVar(&partyName, "party", "", "the asking party (with --server)")
	predict.Flags().BoolVar(&predictOblivious, "oblivious", false, "predict without memory accesses or branches that depend on the rows (ml/obl)")
	predict.MarkFlagRequired("data")
	cmd.AddCommand(train, predict, mlKeygenCmd(), mlEncryptCmd(), mlManifestCmd(), mlServeCmd(self), mlSubmitCmd(), mlStatusCmd(), mlFetchCmd())
	return cmd
}

func mlManifestCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "manifest", Short: "Create, sign and verify a multi-party job's manifest (spec/ml-manifest.md)", Args: cobra.NoArgs}
	var (
		job, policyFile, schemaFrom, features, label, algo, paramsFile, recipients, out string
		partyArgs                                                                       []string
		allowSim, noRelease, oblivious                                                  bool
		holdout                                                                         float64
		seed                                                                            uint64
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Write a manifest from the parties' public keys and encrypted files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := manifest.Manifest{Version: manifest.Version, Job: job, Holdout: holdout, Seed: seed,
				Trainer: manifest.Trainer{AllowSimulation: allowSim},
				Output:  manifest.Output{Release: !noRelease}}
			for _, pa := range partyArgs {
				pubPath, encPath, ok := strings.Cut(pa, "=")
				if !ok {
					return fmt.Errorf("%w: --party NAME.pub.json=ENCRYPTED_FILE, not %q", errUsage, pa)
				}
				pub, err := party.ReadPublic(pubPath)
				if err != nil {
					return err
				}
				enc, err := os.ReadFile(encPath)
				if err != nil {
					return err
				}
				h := sha256.Sum256(enc)
				m.Parties = append(m.Parties, manifest.Party{Name: pub.Name, SigningKey: pub.SigningKey, OutputKey: pub.OutputKey,
					Data: manifest.DataRef{SHA256: hex.EncodeToString(h[:]), Bytes: int64(len(enc))}})
			}
			pol, err := os.ReadFile(policyFile)
			if err != nil {
				return err
			}
			m.Trainer.Policy = json.RawMessage(bytes.TrimSpace(pol))
			switch {
			case features != "":
				m.Schema.Features = strings.Split(features, ",")
			case schemaFrom != "":
				d, err := dataset.Open(schemaFrom, label)
				if err != nil {
					return err
				}
				m.Schema.Features = d.Features
			default:
				return fmt.Errorf("%w: --features a,b,c or --schema-from a CSV file with the columns", errUsage)
			}
			m.Schema.Label = label
			params, err := os.ReadFile(paramsFile)
			if err != nil {
				return err
			}
			m.Algorithm = manifest.Algorithm{Name: algo, Params: json.RawMessage(bytes.TrimSpace(params)), Oblivious: oblivious}
			if recipients != "" {
				m.Output.Recipients = strings.Split(recipients, ",")
			}
			b, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if _, err := manifest.Parse(b); err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			h := manifest.Hash(b)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: job %s, %d parties, manifest sha256 %x; each party signs it (confide ml manifest sign)\n", out, job, len(m.Parties), h)
			return nil
		},
	}
	f := create.Flags()
	f.StringVar(&job, "job", "", "the job's name")
	f.StringArrayVar(&partyArgs, "party", nil, "a party: NAME.pub.json=ENCRYPTED_FILE (repeat)")
	f.StringVar(&policyFile, "trainer-policy", "", "the trainer's attestation policy (JSON, spec/policy.md)")
	f.BoolVar(&allowSim, "allow-simulation", false, "accept a SIMULATED trainer (never for real data)")
	f.StringVar(&features, "features", "", "the feature columns, comma-separated")
	f.StringVar(&schemaFrom, "schema-from", "", "or take them from this CSV file's header (the label left out)")
	f.StringVar(&label, "label", "", "the label column")
	f.StringVar(&algo, "algo", "", "gbdt, logreg or kmeans")
	f.StringVar(&paramsFile, "params", "", "every hyperparameter (JSON, spec/ml-manifest.md)")
	f.StringVar(&recipients, "recipients", "", "parties who receive the model, comma-separated")
	f.BoolVar(&noRelease, "no-release", false, "the model stays in the enclave: predictions only")
	f.BoolVar(&oblivious, "oblivious", false, "train (and predict) without memory accesses or branches that depend on the data; max_iter is then exact")
	f.Float64Var(&holdout, "holdout", 0.2, "fraction of each party's rows kept out to measure the model")
	f.Uint64Var(&seed, "seed", 1, "draws the held-out rows")
	f.StringVar(&out, "out", "manifest.json", "the manifest file")
	for _, n := range []string{"job", "party", "trainer-policy", "algo", "params"} {
		create.MarkFlagRequired(n)
	}

	var manifestPath, sigsPath, dir, name string
	sign := &cobra.Command{
		Use:   "sign",
		Short: "Sign a manifest as a party (adds to the signatures file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(manifestPath)
			if err != nil {
				return err
			}
			k, err := party.Load(dir, name)
			if err != nil {
				return err
			}
			var sigs manifest.Signatures
			if sb, err := os.ReadFile(sigsPath); err == nil {
				if err := json.Unmarshal(sb, &sigs); err != nil {
					return fmt.Errorf("%s: %w", sigsPath, err)
				}
			} else if !os.IsNotExist(err) {
				return err
			}
			if err := manifest.Sign(b, &sigs, name, k.Sign); err != nil {
				return err
			}
			sb, _ := json.MarshalIndent(sigs, "", "  ")
			if err := os.WriteFile(sigsPath, append(sb, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s signed %s (%d signatures in %s)\n", name, manifestPath, len(sigs.Signatures), sigsPath)
			return nil
		},
	}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check that every party, and nobody else, has signed the manifest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(manifestPath)
			if err != nil {
				return err
			}
			sb, err := os.ReadFile(sigsPath)
			if err != nil {
				return err
			}
			var sigs manifest.Signatures
			if err := json.Unmarshal(sb, &sigs); err != nil {
				return fmt.Errorf("%s: %w", sigsPath, err)
			}
			m, err := manifest.Verify(b, &sigs)
			if err != nil {
				return err
			}
			h := manifest.Hash(b)
			fmt.Fprintf(cmd.OutOrStdout(), "manifest %x: job %s signed by all %d parties\n", h, m.Job, len(m.Parties))
			return nil
		},
	}
	for _, c := range []*cobra.Command{sign, verify} {
		c.Flags().StringVar(&manifestPath, "manifest", "manifest.json", "the manifest")
		c.Flags().StringVar(&sigsPath, "sigs", "manifest.sigs.json", "the signatures file")
	}
	sign.Flags().StringVar(&dir, "dir", ".", "directory of the party's key files")
	sign.Flags().StringVar(&name, "party", "", "the signing party's name")
	sign.MarkFlagRequired("party")
	cmd.AddCommand(create, sign, verify)
	return cmd
}

func mlKeygenCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "keygen NAME",
		Short: "Make a party's keys: NAME.keys.pem (signing, output and data keys; keep it) and NAME.pub.json (for the manifest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := party.Generate(args[0])
			if err != nil {
				return err
			}
			if err := k.Save(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "party %s: keys in %s, public keys in %s\n", args[0],
				filepath.Join(dir, args[0]+".keys.pem"), filepath.Join(dir, args[0]+".pub.json"))
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", ".", "directory for the key files")
	return c
}

func printPredictions(cmd *cobra.Command, ps []float64, clusters bool) {
	w := cmd.OutOrStdout()
	for _, p := range ps {
		if clusters {
			fmt.Fprintln(w, int(p))
		} else {
			fmt.Fprintln(w, strconv.FormatFloat(p, 'g', 10, 64))
		}
	}
}

func mlEncryptCmd() *cobra.Command {
	var dir, name, in, out string
	c := &cobra.Command{
		Use:   "encrypt",
		Short: "Check a data set (CSV) and encrypt it, as a binary table, under the party's data key; prints the hash the manifest names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := party.Load(dir, name)
			if err != nil {
				return err
			}
			// A table the trainer would refuse is refused here, before
			// anyone signs a manifest naming it; what is sealed is the
			// binary form, which the trainer decodes without parsing.
			d, err := dataset.Open(in, "")
			if err != nil {
				return err
			}
			plain := d.Table()
			enc, err := encfile.Encrypt(plain, k.Data)
			clear(plain)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, enc, 0o644); err != nil {
				return err
			}
			h := sha256.Sum256(enc)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d bytes, sha256 %x\n", out, len(enc), h)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", ".", "directory of the party's key files")
	c.Flags().StringVar(&name, "party", "", "the party's name (its NAME.keys.pem)")
	c.Flags().StringVar(&in, "in", "", "the data set (CSV)")
	c.Flags().StringVar(&out, "out", "", "the encrypted file")
	for _, f := range []string{"party", "in", "out"} {
		c.MarkFlagRequired(f)
	}
	return c
}
