// Package atls stands in for confide's attested TLS.
package atls

import "crypto/tls"

type Config struct{}

func (c *Config) ClientConfig() (*tls.Config, error) { return &tls.Config{}, nil }
func (c *Config) ServerConfig() (*tls.Config, error) { return &tls.Config{}, nil }
