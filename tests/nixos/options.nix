# The options test: our module's containers.<name> options (and boot.*)
# against the reference module's, both evaluated with the stand-in.
# Evaluates to { problems = [ "..." ]; report = [ "..." ]; }; the test
# passes when problems is empty. report lists what ours adds.
{ lib ? import ./nixpkgs-lib.nix, reference, module ? ../../nixos/module.nix }:
let
  inherit (lib) mapAttrsToList concatLists filterAttrs hasPrefix attrNames;

  optionsOf = module:
    let
      options = (import ./eval.nix { inherit lib module; }).options;
      # An option's type and, when it is a plain value, its default.
      describe = opt: {
        type = opt.type.description;
      } // lib.optionalAttrs (opt ? default) (
        let tried = builtins.tryEval (builtins.deepSeq opt.default opt.default);
        in lib.optionalAttrs (tried.success && !builtins.isFunction tried.value) { default = tried.value; });
      # "name" for a suboption, "bindMounts.*.hostPath" for an option of an
      # element of a list or attribute set of submodules.
      flatten = prefix: opts: concatLists (mapAttrsToList (name: opt:
        if hasPrefix "_" name then [ ]
        else if lib.isOption opt then
          [ { name = prefix + name; value = describe opt; } ]
          ++ flatten "${prefix}${name}.*." (opt.type.getSubOptions [ ])
        else flatten "${prefix}${name}." opt) opts);
    in
    builtins.listToAttrs (
      flatten "containers.<name>." (options.containers.type.getSubOptions [ "containers" "<name>" ])
      ++ map (name: { name = "boot.${name}"; value = describe options.boot.${name}; })
        (builtins.filter (name: options.boot ? ${name}) [ "enableContainers" "isContainer" "isNspawnContainer" ]));

  ours = optionsOf module;
  theirs = optionsOf reference;

  port = "16 bit unsigned integer; between 0 and 65535 (both inclusive)";
  # Where today's nixpkgs module differs from the old reference, ours
  # follows nixpkgs: what ours must then be.
  followsNixpkgs = {
    "containers.<name>.forwardPorts.*.hostPort" = { type = port; };
    "containers.<name>.forwardPorts.*.containerPort" = { type = "null or ${port}"; default = null; };
    "containers.<name>.extraVeths.*.forwardPorts.*.hostPort" = { type = port; };
    "containers.<name>.extraVeths.*.forwardPorts.*.containerPort" = { type = "null or ${port}"; default = null; };
    # nixpkgs: config.containers != { }; the reference: true.
    "boot.enableContainers" = { type = "boolean"; default = false; };
  };
  mac = "null or string matching the pattern ([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}";
  # Options of today's nixpkgs module that the reference has not.
  newInNixpkgs = {
    "containers.<name>.privateUsers" = {
      type = ''32 bit unsigned integer; between 0 and 4294967295 (both inclusive) or one of "no", "identity", "pick"'';
      default = "no";
    };
    "containers.<name>.restartIfChanged" = { type = "boolean"; default = true; };
    "containers.<name>.networkNamespace" = { type = "null or absolute path"; default = null; };
    "containers.<name>.localMacAddress" = { type = mac; default = null; };
    "containers.<name>.extraVeths.*.localMacAddress" = { type = mac; default = null; };
    "containers.<name>.specialArgs" = { type = "attribute set of unspecified value"; default = { }; };
    "containers.<name>.copyResolvConf" = { type = "boolean"; default = true; };
    "containers.<name>.flake" = { type = "null or string"; default = null; };
    "boot.isNspawnContainer" = { type = "boolean"; default = false; };
  };
  limit = { type = "null or string"; default = null; };
  # Options of this project only.
  newInProject = lib.genAttrs
    (map (name: "containers.<name>.${name}") [ "memoryMax" "memoryHigh" "cpuWeight" "cpuQuota" "tasksMax" "ioWeight" ])
    (_: limit);

  show = builtins.toJSON;
  compare = name: expected: actual:
    lib.optional (expected != actual) "${name}: ours is ${show actual}, expected ${show expected}";

  missingOrDifferent = concatLists (mapAttrsToList (name: theirOption:
    if !(ours ? ${name}) then [ "${name}: missing in ours (the reference has ${show theirOption})" ]
    else compare name (followsNixpkgs.${name} or theirOption) ours.${name}) theirs);

  # Every deviation listed must be a real one, or the list hides nothing.
  staleDeviations = lib.concatMap (name:
    lib.optional (theirs ? ${name} && theirs.${name} == followsNixpkgs.${name})
      "${name}: listed as following nixpkgs, but the reference agrees") (attrNames followsNixpkgs);

  added = filterAttrs (name: _: !(theirs ? ${name})) ours;
  unexplained = concatLists (mapAttrsToList (name: option:
    if newInNixpkgs ? ${name} then compare name newInNixpkgs.${name} option
    else if newInProject ? ${name} then compare name newInProject.${name} option
    else [ "${name}: in ours only, neither in today's nixpkgs nor one of this project's (${show option})" ]) added);
  absent = lib.concatMap (name: lib.optional (!(ours ? ${name})) "${name}: missing in ours")
    (attrNames newInNixpkgs ++ attrNames newInProject);
in
{
  problems = missingOrDifferent ++ staleDeviations ++ unexplained ++ absent;
  report =
    [ "${toString (builtins.length (attrNames theirs))} reference options; ${toString (builtins.length (attrNames ours))} of ours" ]
    ++ map (name: "follows today's nixpkgs: ${name} = ${show ours.${name}} (reference: ${show (theirs.${name} or null)})") (attrNames followsNixpkgs)
    ++ map (name: "new in today's nixpkgs: ${name}") (attrNames (filterAttrs (n: _: newInNixpkgs ? ${n}) added))
    ++ map (name: "new in this project: ${name}") (attrNames (filterAttrs (n: _: newInProject ? ${n}) added));
}
