package financedemo_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/confide/confide/attest"
	"github.com/confide/confide/enclave"
	"github.com/confide/confide/enclave/sim/simtest"
	"github.com/confide/confide/sql/financedemo"
)

func TestFinanceDemo(t *testing.T) {
	p := simtest.Start(t)
	id, err := p.Client.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	dir := t.TempDir()
	err = financedemo.Run(context.Background(), &out, financedemo.Options{
		Positions: 200,
		Platform:  p.Client,
		Verifier:  &attest.Verifier{Backends: map[string]enclave.Verifier{"sim": p.Verifier()}},
		Policy:    []byte(`{"version":"1.0.0","allOf":[{"claim":"platform","equals":"sim"},{"claim":"unique_id","equals":"` + hex.EncodeToString(id.UniqueID) + `"}]}`),
		Dir:       dir,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	for _, want := range []string{"Portfolio value per client", "Exposure by sector", "VaR at 95%", "What a DBA sees", "Every figure equals"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "MISMATCH") {
		t.Errorf("mismatches:\n%s", out.String())
	}
	// The server's files hold no client name (NVARCHAR: UTF-16LE or
	// UTF-8), though the names were grouped and returned.
	filepath.WalkDir(filepath.Join(dir, "data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, name := range []string{"Dalia D.", "Björn B.", "Emeka E."} {
			var u16 []byte
			for _, r := range utf16.Encode([]rune(name)) {
				u16 = append(u16, byte(r), byte(r>>8))
			}
			if bytes.Contains(b, []byte(name)) || bytes.Contains(b, u16) {
				t.Errorf("%s holds %q", path, name)
			}
		}
		return nil
	})
}
