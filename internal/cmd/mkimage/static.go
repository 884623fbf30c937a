package main

import (
	"bytes"
	"debug/elf"
	"fmt"
)

// checkStatic refuses an ELF program that asks for a dynamic loader (PT_INTERP), as one
// built with cgo does: on a scratch base it would fail with a bare "no such file".
func checkStatic(name string, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: not an ELF program: %w", name, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0 for the image", name)
		}
	}
	return nil
}
