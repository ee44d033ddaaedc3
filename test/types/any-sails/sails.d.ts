// A project's own, untyped declaration of the `sails` global.
declare var sails: any;
