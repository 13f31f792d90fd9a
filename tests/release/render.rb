# Renders every template of a BOSH job the way BOSH does, for the tests:
#   ruby render.rb JOB_DIR CONTEXT_JSON OUT_DIR
# CONTEXT_JSON is {"properties": {...manifest properties...}, "spec": {...instance spec...}}.
# Templates see only the properties the job spec declares: the manifest's value, else the
# spec's default, else nil. p(name[, default]), if_p(*names) { } .else { }, spec.* and properties.*
# behave as in the Director and the bosh CLI. Templates are ERB with trim_mode "-"; files under
# bin/ are made executable, as BOSH makes them.
require "erb"
require "fileutils"
require "json"
require "yaml"

# Read-only dotted access to a hash (spec.networks.default.ip, properties.docker_cpi.backend).
class Dotted
  def initialize(hash)
    @hash = hash
  end

  def [](key)
    wrap(@hash[key.to_s])
  end

  def method_missing(name, *args)
    return super unless args.empty?

    wrap(@hash[name.to_s])
  end

  def respond_to_missing?(_name, _private = false)
    true
  end

  private

  def wrap(value)
    case value
    when Hash then Dotted.new(value)
    when Array then value.map { |v| wrap(v) }
    else value
    end
  end
end

class UnknownProperty < StandardError; end

class TemplateContext
  attr_reader :spec, :properties

  def initialize(props, instance_spec)
    @props = props
    @spec = Dotted.new(instance_spec)
    @properties = Dotted.new(props)
  end

  def p(*args)
    names = Array(args[0])
    names.each do |name|
      value = lookup(name)
      return value unless value.nil?
    end
    return args[1] if args.length > 1

    raise UnknownProperty, "Can't find property '#{names.join("', or '")}'"
  end

  def if_p(*names)
    values = names.map { |name| lookup(name) }
    return Else.new(self, true) if values.any?(&:nil?)

    yield(*values)
    Else.new(self, false)
  end

  def if_link(_name)
    false
  end

  def bind
    binding
  end

  private

  def lookup(name)
    name.split(".").reduce(@props) { |h, k| h.is_a?(Hash) ? h[k] : nil }
  end

  class Else
    def initialize(context, active)
      @context = context
      @active = active
    end

    def else
      yield if @active
    end

    def else_if_p(*names, &block)
      @active ? @context.if_p(*names, &block) : self
    end
  end
end

def dig_dotted(hash, name)
  name.split(".").reduce(hash) { |h, k| h.is_a?(Hash) ? h[k] : nil }
end

def set_dotted(hash, name, value)
  *parents, last = name.split(".")
  parents.reduce(hash) { |h, k| h[k] ||= {} }[last] = value
end

job_dir, context_path, out_dir = ARGV
abort("usage: render.rb JOB_DIR CONTEXT_JSON OUT_DIR") unless out_dir

job_spec = YAML.safe_load(File.read(File.join(job_dir, "spec")))
context = JSON.parse(File.read(context_path))
manifest = context.fetch("properties", {})

props = {}
(job_spec["properties"] || {}).each do |name, decl|
  value = dig_dotted(manifest, name)
  value = (decl || {})["default"] if value.nil?
  set_dotted(props, name, value) unless value.nil?
end

instance_spec = {
  "name" => "bosh", "index" => 0, "id" => "6a2f1c8e-0000-4000-8000-000000000001",
  "deployment" => "bosh", "az" => "z1", "bootstrap" => true,
  "address" => "10.245.0.2", "ip" => "10.245.0.2",
  "networks" => { "default" => { "ip" => "10.245.0.2", "default" => %w[dns gateway] } },
  "job" => { "name" => job_spec["name"] },
}.merge(context.fetch("spec", {}))

(job_spec["templates"] || {}).each do |src, dst|
  src_path = File.join(job_dir, "templates", src)
  begin
    erb = ERB.new(File.read(src_path), trim_mode: "-")
    erb.filename = src_path
    rendered = erb.result(TemplateContext.new(props, instance_spec).bind)
  rescue StandardError => e
    # As BOSH reports it: the template and the error, not the properties.
    warn("Error filling in template '#{src}' (#{e.class}: #{e.message})")
    exit 1
  end
  dst_path = File.join(out_dir, dst)
  FileUtils.mkdir_p(File.dirname(dst_path))
  File.write(dst_path, rendered)
  File.chmod(0o755, dst_path) if dst.start_with?("bin/")
end
