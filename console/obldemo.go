package console

import (
	"context"
	"io"
	"path/filepath"

	obldemo "github.com/confide/confide/oblivious/demo"
	"github.com/confide/confide/oblivious/trace"
)

// ObliviousDemo is the oblivious-access picture: a decision tree predicts
// two patients, the ordinary walk and oblivious inference, every memory
// access recorded and drawn. Recording needs a binary built with the
// obltrace tag (the recorder compiles away otherwise, for speed): ok is
// false in other builds, and a console shows the demo only when it can
// run it.
func ObliviousDemo() (d Demo, ok bool) {
	if !trace.Enabled {
		return Demo{}, false
	}
	return Demo{
		Title: "What oblivious inference hides",
		About: "A decision tree (CART, depth 4, Wisconsin breast-cancer data) predicts two patients, once with the ordinary " +
			"tree walk and once with oblivious inference; every memory access of each prediction is recorded. The picture " +
			"shows the ordinary walk's traces differ between the patients — what a host watching memory learns — and the " +
			"oblivious ones are identical.",
		Run: func(_ context.Context, _, dir string, w io.Writer) (string, error) {
			if err := obldemo.Run(w, obldemo.Options{Dir: dir}); err != nil {
				return "", err
			}
			return filepath.Join(dir, obldemo.SVGName), nil
		},
	}, true
}
