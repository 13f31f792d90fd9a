/** The parts of mvdan-sh (GopherJS build of mvdan/sh's syntax package) that the CPI uses. */
declare module 'mvdan-sh' {
  export interface Pos {
    Offset(): number;
    Line(): number;
    Col(): number;
  }
  /** A syntax node: its fields depend on NodeType(node) (see mvdan/sh's syntax package). */
  export interface Node {
    Pos(): Pos;
    End(): Pos;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    [field: string]: any;
  }
  export interface ParserOption {
    readonly __option: unique symbol;
  }
  export interface Parser {
    Parse(src: string, name: string): Node;
  }
  export const syntax: {
    NewParser(...opts: ParserOption[]): Parser;
    KeepComments(keep: boolean): ParserOption;
    Variant(lang: number): ParserOption;
    LangBash: number;
    LangPOSIX: number;
    LangMirBSDKorn: number;
    Walk(node: Node, visit: (node: Node | null) => boolean): void;
    NodeType(node: Node): string;
  };
}
