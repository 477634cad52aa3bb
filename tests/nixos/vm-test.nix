# The NixOS VM test (flake.nix, checks.<system>.vm): a declarative
# container boots; a switch that changes only its system reloads it (its
# Leader stays); a switch that changes a bind restarts it (a new Leader).
# It needs nixpkgs and KVM, which this project's machines lack: here it is
# only parsed (nixos_parse). Run it with `nix build .#checks.x86_64-linux.vm`.
{ module }:
{
  name = "nixos-containers-declarative";

  nodes.machine = { lib, ... }:
    let
      web = { marker, bindSource }: {
        autoStart = true;
        privateNetwork = true;
        hostAddress = "10.231.7.1";
        localAddress = "10.231.7.2";
        bindMounts."/mnt/data" = { hostPath = bindSource; isReadOnly = true; };
        config = { ... }: {
          system.stateVersion = lib.trivial.release;
          environment.etc."marker".text = marker;
        };
      };
    in
    {
      imports = [ module ];
      virtualisation.memorySize = 2048;
      systemd.tmpfiles.rules = [
        "d /srv/bind-a 0755 root root -"
        "f /srv/bind-a/which 0644 root root - a"
        "d /srv/bind-b 0755 root root -"
        "f /srv/bind-b/which 0644 root root - b"
      ];
      containers.web = web { marker = "one"; bindSource = "/srv/bind-a"; };
      specialisation.reloaded.configuration = {
        containers.web = lib.mkForce (web { marker = "two"; bindSource = "/srv/bind-a"; });
      };
      specialisation.rebound.configuration = {
        containers.web = lib.mkForce (web { marker = "two"; bindSource = "/srv/bind-b"; });
      };
    };

  testScript = ''
    def leader():
        return machine.succeed(
            "busctl get-property org.nixos.Containers /org/nixos/Containers/container/web "
            "org.nixos.Containers.Container Leader"
        ).strip()

    def switch(name):
        machine.succeed(
            f"/run/booted-system/specialisation/{name}/bin/switch-to-configuration test"
        )
        machine.succeed("systemctl is-active nixos-containers-declarative.service")

    machine.wait_for_unit("nixos-containers-declarative.service")
    machine.wait_until_succeeds("nixos-container run web -- cat /etc/marker | grep -x one")
    machine.succeed("ping -c 1 -W 5 10.231.7.2")
    machine.succeed("nixos-container run web -- cat /mnt/data/which | grep -x a")
    first = leader()

    with subtest("a change of only the container's system reloads it"):
        switch("reloaded")
        machine.wait_until_succeeds("nixos-container run web -- cat /etc/marker | grep -x two")
        assert leader() == first, "the container was restarted, not reloaded"

    with subtest("a change of a bind restarts it"):
        switch("rebound")
        machine.wait_until_succeeds("nixos-container run web -- cat /mnt/data/which | grep -x b")
        assert leader() != first, "the container was not restarted"
  '';
}
