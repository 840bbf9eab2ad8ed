// A method of the control protocol: its name on the wire, a title and help text (the CLI's help
// and docs read them from here), whether it streams progress or binary chunks, and the validator
// that turns the wire params (`In`, what a client sends) into typed, branded params (`P`) before
// any handler runs. `R` is the result's JSON shape.

export interface MethodDef<In, P, R> {
  readonly name: string
  readonly title: string
  readonly help: string
  /** emits progress events */
  readonly progress: boolean
  /** streams binary chunks before its result */
  readonly binary: boolean
  parse (raw: unknown): P
  /** phantom fields: carry the wire-params and result types for the typed client */
  readonly __in?: In
  readonly __result?: R
}

export function defineMethod<In, P, R> (d: {
  name: string
  title: string
  help: string
  progress?: boolean
  binary?: boolean
  parse: (raw: unknown) => P
}): MethodDef<In, P, R> {
  return { name: d.name, title: d.title, help: d.help, progress: d.progress ?? false, binary: d.binary ?? false, parse: d.parse }
}
