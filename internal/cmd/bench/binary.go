package main

import (
	"debug/elf"
	"fmt"
	"os"
	"strings"
)

// binaryInfo is the halod binary the run used.
type binaryInfo struct {
	path  string
	size  int64 // bytes
	strip bool  // no symbol table and no DWARF: built with -ldflags '-s -w', as the Makefile does
	err   string
}

// measureBinary reads the size of the halod at path and whether it is stripped.
func measureBinary(path string) binaryInfo {
	b := binaryInfo{path: path}
	fi, err := os.Stat(path)
	if err != nil {
		b.err = err.Error()
		return b
	}
	b.size = fi.Size()
	f, err := elf.Open(path)
	if err != nil {
		b.err = fmt.Sprintf("%s: %v", path, err)
		return b
	}
	defer f.Close()
	b.strip = stripped(f.Sections)
	return b
}

// stripped reports whether sections hold neither a symbol table nor DWARF.
func stripped(sections []*elf.Section) bool {
	for _, s := range sections {
		if s.Name == ".symtab" || strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			return false
		}
	}
	return true
}
