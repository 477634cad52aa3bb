# Evaluates NixOS-style configuration modules for the options this stand-in
# knows (see ../README.md) and builds the payload system from them.
{ modules }:
let
  # A module is a path, an attribute set, or a function of the module
  # arguments; `imports` are followed.
  load = module:
    let
      value = if builtins.isPath module || builtins.isString module then import module else module;
      attrs = if builtins.isFunction value
        then value { inherit config lib; pkgs = { }; modulesPath = ./.; options = { }; }
        else value;
    in [ attrs ] ++ builtins.concatMap load (attrs.imports or [ ]);
  definitions = builtins.concatMap load modules;
  # The module system's priorities, as far as the modules here use them: a
  # lower number wins, and among equals the last definition.
  lib = rec {
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
  };
  priorityOf = v: if builtins.isAttrs v && (v._type or "") == "override" then v.priority else 100;
  contentOf = v: if builtins.isAttrs v && (v._type or "") == "override" then v.content else v;
  last = path: default:
    let
      values = builtins.filter (v: v != null) (map (attrByPath path) definitions);
      best = builtins.foldl' (found: v: if found == null || priorityOf v <= priorityOf found then v else found) null values;
    in if best == null then default else contentOf best;
  attrByPath = path: attrs:
    if path == [ ] then attrs
    else if builtins.isAttrs attrs && attrs ? ${builtins.head path}
    then attrByPath (builtins.tail path) attrs.${builtins.head path}
    else null;
  config = {
    payload.message = last [ "payload" "message" ] "";
    payload.fail = last [ "payload" "fail" ] false;
    networking.hostName = last [ "networking" "hostName" ] "container";
    boot.isContainer = last [ "boot" "isContainer" ] true;
    system.build.toplevel = toplevel;
  };
  toplevel = import ../system.nix {
    name = "nixos-system-${config.networking.hostName}";
    src = ../payload;
    message = config.payload.message;
    fail = config.payload.fail;
  };
in
{
  inherit config;
  system = toplevel;
}
