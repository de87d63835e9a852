import { DEFAULT_MESSAGES } from './default-messages';
import type { DataDictionary } from './data-dictionary';
import { McuProtocolError } from './errors';
import { MessageFormat, encodedMsgid } from './message-format';

/** Value the firmware uses for a shutdown reason its build did not declare. */
export const UNKNOWN_STATIC_STRING_ID = 0xff;

/** The messages of one data dictionary, looked up by name, by message id or by the firmware's internal id. */
export class MessageCatalog {
  private readonly byName = new Map<string, MessageFormat>();
  private readonly byId = new Map<number, MessageFormat>();
  private readonly commandsByEncodedId = new Map<number, MessageFormat>();
  private readonly staticStrings: ReadonlyMap<string, number>;
  /** Size of the firmware's command table: ids 0 and >= this are "Invalid command". */
  readonly commandIndexSize: number;

  constructor(dictionary: DataDictionary) {
    const commands = { ...DEFAULT_MESSAGES.commands, ...dictionary.commands };
    const responses = { ...DEFAULT_MESSAGES.responses, ...dictionary.responses };
    for (const [format, msgid] of Object.entries({ ...commands, ...responses })) {
      const message = new MessageFormat(msgid, format);
      if (this.byName.has(message.name) || this.byId.has(msgid)) {
        throw new McuProtocolError(`Data dictionary defines '${message.name}' (msgid ${msgid}) twice`);
      }
      this.byName.set(message.name, message);
      this.byId.set(msgid, message);
    }
    let maxCommand = 0;
    for (const msgid of Object.values(commands)) {
      const encoded = encodedMsgid(msgid);
      const message = this.byId.get(msgid);
      if (message) {
        this.commandsByEncodedId.set(encoded, message);
      }
      maxCommand = Math.max(maxCommand, encoded);
    }
    this.commandIndexSize = maxCommand + 1;
    const ids = dictionary.enumerations?.static_string_id ?? {};
    this.staticStrings = new Map(
      Object.entries(ids).flatMap(([text, id]) => (typeof id === 'number' ? [[text, id] as const] : [])),
    );
  }

  message(name: string): MessageFormat | undefined {
    return this.byName.get(name);
  }

  messageById(msgid: number): MessageFormat | undefined {
    return this.byId.get(msgid);
  }

  /** The command at the firmware's internal id, if the dictionary has one there. */
  commandByEncodedId(encoded: number): MessageFormat | undefined {
    return this.commandsByEncodedId.get(encoded);
  }

  staticStringId(text: string): number {
    return this.staticStrings.get(text) ?? UNKNOWN_STATIC_STRING_ID;
  }

  staticString(id: number): string | undefined {
    for (const [text, value] of this.staticStrings) {
      if (value === id) {
        return text;
      }
    }
    return undefined;
  }
}
