package targets_test

import (
	"context"
	"fmt"

	"github.com/rawprobe/rawprobe/internal/cli/targets"
)

func ExampleSet_Order() {
	ports, _ := targets.ParsePorts("22,80")
	b := &targets.Builder{Ports: ports}
	b.Add(context.Background(), "198.18.0.0/30")
	b.Exclude("198.18.0.3")
	set, _ := b.Build()
	for i := uint64(1); i <= 2; i++ {
		shard := targets.Shard{Index: i, Count: 2}
		fmt.Print(shard, ":")
		for ap := range set.Order(7, shard) {
			fmt.Print(" ", ap)
		}
		fmt.Println()
	}
	// Output:
	// 1/2: 198.18.0.0:22 198.18.0.1:22 198.18.0.1:80
	// 2/2: 198.18.0.2:80 198.18.0.2:22 198.18.0.0:80
}

func ExampleParsePorts() {
	ports, err := targets.ParsePorts("443,80,8000-8100,8050")
	if err != nil {
		panic(err)
	}
	fmt.Println(ports, ports.Len(), ports.At(2))
	_, err = targets.ParsePorts("80,99999")
	fmt.Println(err)
	// Output:
	// 80,443,8000-8100 103 8000
	// invalid port list "80,99999": port 99999 is out of range 1-65535
}

func ExampleBuilder_Add() {
	b := &targets.Builder{}
	for _, tok := range []string{"198.18.0.1:80", "[2001:db8::1]:443", "300.1.1.1:80", "198.18.0.0/24"} {
		if err := b.Add(context.Background(), tok); err != nil {
			fmt.Println(err)
		}
	}
	set, _ := b.Build()
	fmt.Println(set.Len(), "targets")
	// Output:
	// invalid target "300.1.1.1:80": 300.1.1.1 is not a valid IPv4 address
	// invalid target "198.18.0.0/24": no port: give host:port or a port list with -p/--ports
	// 2 targets
}
