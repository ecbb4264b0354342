package network

import (
	"net"
	"testing"
)

func TestResolvConfFrom(t *testing.T) {
	host := []byte("# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nsearch corp.example\noptions edns0 trust-ad\n")
	cases := []struct {
		name          string
		host          []byte
		servers, srch []string
		want          string
	}{
		{"host servers minus loopback", host, nil, nil,
			"nameserver 10.255.255.53\nsearch corp.example\noptions edns0 trust-ad\n"},
		{"explicit wins", host, []string{"10.213.0.1"}, []string{"svc.local"},
			"nameserver 10.213.0.1\nsearch svc.local\noptions edns0 trust-ad\n"},
		{"only loopback on host", []byte("nameserver 127.0.0.53\nnameserver ::1\n"), nil, nil,
			"nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"no host file", nil, nil, nil, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
	}
	for _, c := range cases {
		if got := string(ResolvConfFrom(c.host, c.servers, c.srch)); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestHostsFile(t *testing.T) {
	const base = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
	got := string(HostsFile("web-1", net.ParseIP("10.213.0.7"), map[string]string{"db": "10.213.0.9", "cache": "10.213.0.8"}))
	if want := base + "10.213.0.7\tweb-1\n10.213.0.8\tcache\n10.213.0.9\tdb\n"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got, want := string(HostsFile("lonely", nil, nil)), base+"127.0.1.1\tlonely\n"; got != want {
		t.Errorf("no IP: got %q, want %q", got, want)
	}
}
