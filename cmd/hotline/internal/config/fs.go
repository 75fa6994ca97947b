package config

import (
	"fmt"
	"io/fs"
	"os"
	"path"
)

// LoadFS is Load for a configuration inside a file system (the embedded
// demo): relative paths stay relative to the file within fsys; name is what
// errors call the file.
func LoadFS(fsys fs.FS, file, name string) (*Config, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(name, data)
	if err != nil {
		return nil, err
	}
	c.Dir = path.Dir(file)
	c.ApplyEnv(os.Getenv)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}
