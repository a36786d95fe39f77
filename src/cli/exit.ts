/** CliExit carries an exit code chosen by a command (e.g. verify's 1 for tampering). */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message = '',
  ) {
    super(message);
  }
}
