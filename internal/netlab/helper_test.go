package netlab

import (
	"os"
	"testing"
)

func testBinary(t *testing.T) string {
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// helperArgs returns the arguments after "--" when the binary runs as a helper.
func helperArgs() []string {
	for i, a := range os.Args {
		if a == "--" && i+1 < len(os.Args) {
			return os.Args[i+1:]
		}
	}
	return nil
}
