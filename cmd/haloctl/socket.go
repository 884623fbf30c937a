package main

import (
	"fmt"

	"github.com/halo-lb/halo/supervisor"
)

// socket is the control socket's path and where it came from, which every error about
// reaching halod names: a wrong HALO_SOCKET left in a shell is then easy to spot.
type socket struct {
	path, from string
}

// resolveSocket picks the control socket: -socket, else $HALO_SOCKET, else control.socket
// of the halo.yaml given with -config (read with halod's own loader, defaults applied),
// else the default.
func resolveSocket(flagValue string, flagSet bool, getenv func(string) string, configPath string) (socket, error) {
	switch {
	case flagSet:
		return socket{flagValue, "-socket"}, nil
	case getenv("HALO_SOCKET") != "":
		return socket{getenv("HALO_SOCKET"), "HALO_SOCKET"}, nil
	case configPath != "":
		cfg, err := supervisor.LoadConfig(configPath)
		if err != nil {
			return socket{supervisor.DefaultControlSocket, "default"}, fmt.Errorf("-config %s: %w", configPath, err)
		}
		return socket{cfg.Control.Socket, "control.socket in " + configPath}, nil
	}
	return socket{supervisor.DefaultControlSocket, "default"}, nil
}

func (s socket) String() string { return fmt.Sprintf("%s (%s)", s.path, s.from) }
