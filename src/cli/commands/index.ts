import type { Command } from 'commander';
import { register as ca } from './ca.js';
import { register as cert } from './cert.js';
import { register as crl } from './crl.js';
import { register as init } from './init.js';
import { register as keys } from './keys.js';
import { register as log } from './log.js';
import { register as proof } from './proof.js';
import { register as serve } from './serve.js';
import { register as status } from './status.js';
import { register as verify } from './verify.js';

/** CommandRegistrar adds one command (with its subcommands) to the program. */
export type CommandRegistrar = (program: Command) => void;

/** commands lists every registrar; each lives in its own file under commands/. */
export const commands: CommandRegistrar[] = [init, serve, ca, cert, crl, keys, verify, proof, log, status];
